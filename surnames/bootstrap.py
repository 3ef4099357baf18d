"""Intervals from a two-level bootstrap, folds then names, paired where two models are compared.

A statistic is a function of row weights `w` [D, rows] that returns [D] or [D, k] values:
all rows weighted 1 gives the pooled value, a fold's rows weighted 1 its per-fold value, and
a bootstrap draw weights each row by how often its (fold, name) was drawn (a name listed
under two languages has two rows, and they go together).

Why two levels: each fold's model is trained once, so resampling names alone measures only
which names were scored; two trainings that differ in float rounding then fall outside each
other's intervals. Drawing the folds too (each fold is a model trained from its own seed on
its own names) puts the spread between independently trained models into every interval.
Paired: both models' statistics are computed on the same draws, and the interval is taken of
their difference, draw by draw: fold i of one model is paired with fold i of the other.
"""
from collections import Counter
from collections.abc import Callable

import torch

Statistic = Callable[[torch.Tensor], torch.Tensor]


class Resampler:
    """`draws` two-level resamples from a fixed seed: each draw picks as many folds as there
    are, with replacement, and for each pick as many of that fold's names as it has, with
    replacement. Every call to weights() yields the same draws, so two models scored on the
    same rows are paired."""

    def __init__(self, names: list[str], fold_of_row: torch.Tensor, draws: int, seed: int, chunk: int = 40):
        keys = list(zip(fold_of_row.tolist(), names))
        index: dict[tuple[int, str], int] = {}  # (fold, name) groups, numbered fold after fold
        for key in sorted(keys, key=lambda key: key[0]):  # stable: first seen first within a fold
            index.setdefault(key, len(index))
        self.group_of_row = torch.tensor([index[key] for key in keys], dtype=torch.long)
        self.sizes = list(Counter(fold for fold, _ in index).values())  # groups per fold, in fold order
        self.n_groups, self.draws, self.seed, self.chunk = len(index), draws, seed, chunk

    def weights(self):
        """[chunk, rows] row weights, chunk by chunk, `draws` rows in all. The folds and each
        fold's names come from their own generators, read in draw order, so the chunk size
        changes no draw."""
        n_folds = len(self.sizes)
        fold_generator = torch.Generator().manual_seed(self.seed)
        name_generators = [torch.Generator().manual_seed(self.seed + 1 + fold) for fold in range(n_folds)]
        for begin in range(0, self.draws, self.chunk):
            size = min(self.chunk, self.draws - begin)
            picked = torch.randint(n_folds, (size, n_folds), generator=fold_generator)  # as many folds as there are
            times = torch.zeros(size, n_folds, dtype=torch.long).scatter_add_(1, picked, torch.ones_like(picked))
            cells, start = [], 0  # draw * groups + group, one entry per name drawn
            for fold, (n, generator) in enumerate(zip(self.sizes, name_generators)):
                names_per_draw = times[:, fold] * n  # each pick of the fold draws n of its n names
                draw = torch.repeat_interleave(torch.arange(size) * self.n_groups, names_per_draw)
                cells.append(draw.add_(torch.randint(start, start + n, (len(draw),), generator=generator)))
                start += n
            counts = torch.bincount(torch.cat(cells), minlength=size * self.n_groups).double()
            yield counts.view(size, self.n_groups)[:, self.group_of_row]


def percentile_interval(values: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """The central `level` interval of the draws (percentile bootstrap); NaN draws ignored."""
    tail = (1 - level) / 2
    quantiles = torch.nanquantile(values.double(), torch.tensor([tail, 1 - tail], dtype=torch.double), dim=0)
    return quantiles[0], quantiles[1]


def describe(statistics: dict[str, Statistic], fold_of_row: torch.Tensor, folds: list[int],
             resampler: Resampler, level: float) -> dict[str, dict[str, torch.Tensor]]:
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
