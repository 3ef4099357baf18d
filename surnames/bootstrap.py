"""Intervals from a bootstrap over names, paired where two models are compared.

A statistic is a function of row weights `w` [D, rows] that returns [D] or [D, k] values:
all rows weighted 1 gives the pooled value, a fold's rows weighted 1 its per-fold value, and
a bootstrap draw weights each row by how often its *name* was drawn (a name listed under two
languages has two rows, and they go together). Paired: both models' statistics are computed
on the same draws, and the interval is taken of their difference, draw by draw.
"""
from collections.abc import Callable

import torch

Statistic = Callable[[torch.Tensor], torch.Tensor]


class NameResampler:
    """`draws` resamples of the distinct names, with replacement, from a fixed seed: every
    call to weights() yields the same draws, so two models scored on the same rows are paired."""

    def __init__(self, names: list[str], draws: int, seed: int, chunk: int = 40):
        index: dict[str, int] = {}
        self.name_of_row = torch.tensor([index.setdefault(name, len(index)) for name in names])
        self.n_names, self.draws, self.seed, self.chunk = len(index), draws, seed, chunk

    def weights(self):
        """[chunk, rows] row weights, chunk by chunk, `draws` rows in all."""
        generator = torch.Generator().manual_seed(self.seed)
        for start in range(0, self.draws, self.chunk):
            size = min(self.chunk, self.draws - start)
            picks = torch.randint(self.n_names, (size, self.n_names), generator=generator)
            counts = torch.zeros(size, self.n_names, dtype=torch.double)
            counts.scatter_add_(1, picks, torch.ones(size, self.n_names, dtype=torch.double))
            yield counts[:, self.name_of_row]


def percentile_interval(values: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """The central `level` interval of the draws (percentile bootstrap); NaN draws ignored."""
    tail = (1 - level) / 2
    quantiles = torch.nanquantile(values.double(), torch.tensor([tail, 1 - tail], dtype=torch.double), dim=0)
    return quantiles[0], quantiles[1]


def describe(statistics: dict[str, Statistic], fold_of_row: torch.Tensor, folds: list[int],
             resampler: NameResampler, level: float) -> dict[str, dict[str, torch.Tensor]]:
    """For each statistic: {"value": pooled over all rows, "per_fold": [folds, ...], "low",
    "high"}. The draws are made once and shared by every statistic (the pairing)."""
    everything = torch.ones(1, len(fold_of_row), dtype=torch.double)
    each_fold = torch.stack([(fold_of_row == fold).double() for fold in folds])
    draws = {key: [] for key in statistics}
    for weights in resampler.weights():
        for key, statistic in statistics.items():
            draws[key].append(statistic(weights))
    described = {}
    for key, statistic in statistics.items():
        low, high = percentile_interval(torch.cat(draws[key]), level)
        described[key] = {"value": statistic(everything)[0], "per_fold": statistic(each_fold), "low": low,
                          "high": high}
    return described


def difference(first: Statistic, second: Statistic) -> Statistic:
    """first − second on the same weights: a paired statistic."""
    return lambda weights: first(weights) - second(weights)
