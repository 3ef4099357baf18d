"""evaluate: the paired comparisons, from the scoring stages' per-name predictions.

The pair (LSTM − RNN) is compared on both protocols: every score, held-out recall per
language, accuracy by name length and the gradient ratio; each cell is also compared with
the n-gram baseline on held-out names (the ladder's steps: surnames/matched.py). A comparison
uses the folds both models were scored on, and one set of bootstrap draws per protocol and set
of rows, the same draws the scoring stages used (same rows, same fixed seed): both models of a
pair are scored on the same resampled folds and names, draw by draw (a paired bootstrap).
"""
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from surnames import ladder
from surnames.atomic import write_json
from surnames.bootstrap import difference
from surnames.data import read_categories
from surnames.errors import ProjectError
from surnames.params import resolve_threads
from surnames.predictions import PROTOCOLS, Predictions, Rows, Scored, gradient_flow_of
from surnames.predictions import read as read_predictions
from surnames.score import (
    Resamplers,
    length_buckets,
    rounded,
    score_statistic,
    statistics,
    summary_of,
)
from surnames.scores import SCORES


def restrict(scored: Scored, folds: list[int]) -> Scored:
    """A model's predictions on `folds` only (a comparison uses the folds both models have)."""
    if all(sorted(set(p.rows.fold.tolist())) == folds for p in scored.predictions.values()):
        return scored
    kept = {}
    for protocol, p in scored.predictions.items():
        mask = torch.isin(p.rows.fold, torch.tensor(folds))
        rows = Rows([n for n, keep in zip(p.rows.names, mask.tolist()) if keep], p.rows.targets[mask],
                    p.rows.lengths[mask], p.rows.fold[mask])
        kept[protocol] = Predictions(rows, p.predicted[mask], p.corrected[mask], p.nll[mask])
    result = Scored(scored.model, kept)
    if scored.gradients is not None:
        test = scored.predictions["test"].rows
        norms = torch.full((len(test.names), scored.gradients.norms.shape[1]), math.nan, dtype=torch.double)
        norms[scored.gradients.picked] = scored.gradients.norms
        result.gradients = gradient_flow_of(kept["test"].rows, norms[torch.isin(test.fold, torch.tensor(folds))])
    return result


def folds_of(scored: Scored) -> list[int]:
    return sorted(set(scored.predictions["test"].rows.fold.tolist()))


@dataclass
class Comparison:
    """`model` − `against`, on the folds both have, each statistic described on shared draws."""
    model: Scored
    against: Scored
    folds: list[int]


def paired(model: Scored, against: Scored) -> Comparison:
    folds = sorted(set(folds_of(model)) & set(folds_of(against)))
    if not folds:
        raise ProjectError(f"{model.model} and {against.model} share no fold; score them on the same folds")
    model, against = restrict(model, folds), restrict(against, folds)
    for protocol in PROTOCOLS:
        a, b = model.predictions[protocol].rows, against.predictions[protocol].rows
        if a.names != b.names or not torch.equal(a.targets, b.targets) or not torch.equal(a.fold, b.fold):
            raise ProjectError(f"the {protocol} predictions of {model.model} and {against.model} are not on the same "
                               "names; re-run 'dvc repro'")
    return Comparison(model, against, folds)


def describe_differences(comparisons: dict[str, Comparison], keys: dict[str, dict[str, tuple[str, ...]]],
                         params: dict, n_classes: int) -> dict[str, dict]:
    """{comparison: {key: described model − against}} for the statistics `keys[comparison]` lists
    under each protocol. Comparisons on the same rows share one set of draws: they are made
    once per protocol and set of rows, for all of them."""
    groups = {}  # (protocol, names, folds) -> (rows, folds, {(comparison, key): statistic})
    made = {}  # (model, folds, key) -> its statistic, computed once per draw however many comparisons use it

    def statistic_of(scored: Scored, folds: list[int], key: str):
        if (scored.model, tuple(folds), key) not in made:
            measured = statistics(scored, n_classes, params["length_buckets"])
            made[scored.model, tuple(folds), key] = remembered(getattr(measured, key))
        return made[scored.model, tuple(folds), key]

    for name, comparison in comparisons.items():
        for protocol, wanted in keys[name].items():
            rows = comparison.model.predictions[protocol].rows
            group = groups.setdefault((protocol, tuple(rows.names), tuple(comparison.folds)),
                                      (rows, comparison.folds, {}))
            group[2].update({(name, key): difference(statistic_of(comparison.model, comparison.folds, key),
                                                     statistic_of(comparison.against, comparison.folds, key))
                             for key in wanted})
    described, resamplers = {name: {} for name in comparisons}, Resamplers(params)
    for rows, folds, wanted in groups.values():
        for (name, key), description in resamplers.intervals(wanted, rows, folds).items():
            described[name][key] = description
    return described


def remembered(statistic):
    """The statistic, computed once for the weights it was last called with (every comparison
    in a group is evaluated on the same draw before the next)."""
    last = {}

    def cached(weights):
        if last.get("weights") is not weights:
            last.update(weights=weights, value=statistic(weights))
        return last["value"]
    return cached


def entry(described: dict, key: str, column: int | None = None) -> dict:
    """A difference as JSON: its pooled value, interval and per-fold values, and in how many
    folds it has the pooled value's sign."""
    summary = summary_of(described[key], column)
    difference = summary.pop("value")
    same = sum(1 for value in summary["per_fold"] if sign(value) == sign(difference))
    return {"difference": difference, **summary, "folds_same_sign": same}


def sign(value: float) -> float:
    """-1, 0 or 1; NaN for NaN (which has no sign in common with anything)."""
    return value if math.isnan(value) else (value > 0) - (value < 0)


PAIR_KEYS = {"train": ("train",), "test": ("test", "recall", "length", "length_trend", "gradient_ratio")}


def compare(pair: tuple[Scored, Scored], baseline: Scored | None, categories: list[str], params: dict) -> dict:
    """metrics/compare.json: the pair's second − first with paired intervals, and each cell − the
    n-gram baseline on held-out names (lists: in the file, not in `dvc exp show`)."""
    first, second = pair
    k = len(categories)
    comparisons = {"pair": paired(second, first)}
    keys = {"pair": PAIR_KEYS}
    if baseline is not None:
        for cell in pair:
            comparisons[cell.model] = paired(cell, baseline)
            keys[cell.model] = {"test": ("test",)}
    everything_described = describe_differences(comparisons, keys, params, k)
    comparison, described = comparisons["pair"], everything_described["pair"]
    # Both cells' held-out balanced accuracy under names that no other metrics file uses, so
    # that `dvc exp show` heads them briefly (the README's narrow comparison table).
    everything = torch.ones(1, len(comparison.model.predictions["test"].rows.names), dtype=torch.double)
    result = {"test_balanced_accuracy": {
        scored.model: rounded(score_statistic(scored.predictions["test"], k)(everything)[0][SCORES.index(
            "balanced_accuracy")]) for scored in (comparison.against, comparison.model)}}
    result["folds"] = comparison.folds
    for protocol in PROTOCOLS:
        result[protocol] = {key: entry(described, protocol, i) for i, key in enumerate(SCORES)}
    result["gradient_ratio"] = entry(described, "gradient_ratio")
    result["by_language"] = [{"language": language, **entry(described, "recall", i)}
                             for i, language in enumerate(categories)]
    result["by_length"] = [{"length": label, **entry(described, "length", i)}
                           for i, (_, _, label) in enumerate(length_buckets(params["length_buckets"]))]
    result["length_trend"] = entry(described, "length_trend")  # by_length's last bucket minus its first
    if baseline is not None:
        versus = {cell.model: everything_described[cell.model] for cell in pair}
        result["vs_baseline"] = [{"model": m, "score": key, **entry(versus[m], "test", SCORES.index(key))}
                                 for m in versus for key in ladder.TABLE_SCORES]
    return result


def run(params: dict, prepared: Path, pair_paths: list[Path], baseline_path: Path | None, compare_path: Path) -> dict:
    """The whole stage: read the predictions, compare, write metrics/compare.json."""
    torch.set_num_threads(resolve_threads(params["threads"]))
    categories = read_categories(prepared)
    pair = tuple(read_predictions(path, categories) for path in pair_paths)
    baseline = read_predictions(baseline_path, categories) if baseline_path else None
    result = compare(pair, baseline, categories, params)
    write_json(compare_path, result)
    return result
