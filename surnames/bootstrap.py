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

import numpy as np
import torch

from surnames import native

Statistic = Callable[[torch.Tensor], torch.Tensor]


GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment (surnames/resample.c)
MASK = (1 << 64) - 1


def _mixed(z):
    """SplitMix64's finalizer, on a Python int or a numpy uint64 array (arithmetic mod 2^64)."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _below(key: int, counters: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Uniform indices below n from the counters' values: resample.c's below(), in numpy."""
    values = _mixed(np.uint64(key) + (counters + np.uint64(1)) * np.uint64(GOLDEN))
    return ((values >> np.uint64(32)) * n.astype(np.uint64)) >> np.uint64(32)


def numpy_weights(key: int, first_draw: int, draws: int, sizes: np.ndarray, starts: np.ndarray,
                  group_of_row: np.ndarray) -> torch.Tensor:
    """resample.c's bootstrap_weights in numpy: the same [draws, rows] weights, slower (where
    the library is not built)."""
    n_folds, n_groups = len(sizes), int(sizes.sum())
    trials = (np.arange(first_draw, first_draw + draws, dtype=np.uint64)[:, None] * np.uint64(n_folds)
              + np.arange(n_folds, dtype=np.uint64)).ravel()
    folds = _below(key, trials + np.uint64(1 << 63), np.full(len(trials), n_folds)).astype(np.int64)
    per_trial = sizes[folds]
    ends = np.cumsum(per_trial)
    name = np.arange(ends[-1], dtype=np.uint64) - np.repeat(ends - per_trial, per_trial).astype(np.uint64)
    drawn = np.repeat(starts[folds], per_trial) + _below(key, (np.repeat(trials, per_trial) << np.uint64(32)) + name,
                                                        np.repeat(per_trial, per_trial)).astype(np.int64)
    draw_of = np.repeat(np.arange(len(trials)) // n_folds, per_trial)
    counts = np.bincount(draw_of * n_groups + drawn, minlength=draws * n_groups).reshape(draws, n_groups)
    return torch.from_numpy(counts[:, group_of_row].astype(np.float64))


class Resampler:
    """`draws` two-level resamples from a fixed seed: each draw picks as many folds as there
    are, with replacement, and for each pick as many of that fold's names as it has, with
    replacement. Every call to weights() yields the same draws, so two models scored on the
    same rows are paired. The draws are counter-based (surnames/resample.c): draw d is the
    same whatever the chunk size, and the same from the compiled loop and the numpy one."""

    def __init__(self, names: list[str], fold_of_row: torch.Tensor, draws: int, seed: int, chunk: int = 40):
        keys = list(zip(fold_of_row.tolist(), names))
        index: dict[tuple[int, str], int] = {}  # (fold, name) groups, numbered fold after fold
        for key in sorted(keys, key=lambda key: key[0]):  # stable: first seen first within a fold
            index.setdefault(key, len(index))
        self.group_of_row = torch.tensor([index[key] for key in keys], dtype=torch.long)
        self.sizes = torch.tensor(list(Counter(fold for fold, _ in index).values()), dtype=torch.long)
        self.starts = torch.cumsum(self.sizes, 0) - self.sizes  # each fold's first group
        self.draws, self.key, self.chunk = draws, _mixed(seed & MASK), chunk

    def weights(self, compiled: bool | None = None):
        """[chunk, rows] row weights (float64), chunk by chunk, `draws` rows in all; `compiled`
        picks the loop (default: the C one where the library is built)."""
        if compiled is None:
            compiled = native.library() is not None
        for begin in range(0, self.draws, self.chunk):
            size = min(self.chunk, self.draws - begin)
            if compiled:
                weights = torch.empty(size, len(self.group_of_row), dtype=torch.double)
                native.bootstrap_weights(self.key, begin, weights, self.sizes, self.starts, self.group_of_row,
                                         torch.get_num_threads())
            else:
                weights = numpy_weights(self.key, begin, size, self.sizes.numpy(), self.starts.numpy(),
                                        self.group_of_row.numpy())
            yield weights


def percentile_interval(values: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """The central `level` interval of the draws (percentile bootstrap); NaN draws ignored."""
    tail = (1 - level) / 2
    quantiles = torch.nanquantile(values.double(), torch.tensor([tail, 1 - tail], dtype=torch.double), dim=0)
    return quantiles[0], quantiles[1]


def intervals(statistics: dict[str, Statistic], fold_of_row: torch.Tensor, folds: list[int],
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
