"""The ladder's views over the matched budgets (surnames/budgets.py), and their comparisons.

A view is one model per rung:
- `lr <x>`: every rung at that matched budget (trained alike: one optimizer, lr, step count and
  batch), one view per budget;
- `own best`: each rung at the budget with its best mean val balanced accuracy over the folds
  (val names only; ties go to the lower lr), so its comparisons may change the lr too.
Each view compares the rungs as the ladder does (surnames/ladder.py, `model − against` on
held-out names, paired, on the same two-level bootstrap draws as every other comparison). A
rung that blew up at a budget has no model there: that budget's comparisons of it are missing,
and its own best is among the other budgets.
"""
import json
from pathlib import Path

import torch

from surnames import ladder
from surnames.atomic import output_set, table_bytes
from surnames.data import read_categories
from surnames.errors import ProjectError
from surnames.evaluate import describe_differences, entry, paired
from surnames.ladder import OWN_BEST
from surnames.params import resolve_threads
from surnames.predictions import read as read_predictions
from surnames.score import Resamplers, score_statistic, summary_of
from surnames.scores import SCORES

FIGURE_SCORES = ("accuracy", "corrected_accuracy", "balanced_accuracy")


def view_name(lr: float) -> str:
    return f"lr {lr:g}"


def own_best(summaries: list[dict]) -> dict[str, float]:
    """{rung: the lr of its best mean val balanced accuracy} (ties: the lower lr)."""
    best = {}
    for summary in sorted(summaries, key=lambda s: s["lr"]):
        for cell in summary["cells"]:
            if "diverged" not in cell and (cell["cell"] not in best or
                                           cell["val_balanced_accuracy"] > best[cell["cell"]][1]):
                best[cell["cell"]] = (summary["lr"], cell["val_balanced_accuracy"])
    return {cell: lr for cell, (lr, _) in best.items()}


def views(summaries: list[dict]) -> dict[str, dict[str, float]]:
    """{view: {rung: lr}}: each matched budget's rungs (those that did not blow up), then own best."""
    result = {view_name(s["lr"]): {c["cell"]: s["lr"] for c in s["cells"] if "diverged" not in c}
              for s in sorted(summaries, key=lambda s: s["lr"])}
    result[OWN_BEST] = own_best(summaries)
    return result


def model_entries(scored: dict, summaries: list[dict], resamplers: Resamplers, n_classes: int) -> list[dict]:
    """Each (rung, lr): what it was trained with, its val scores and its held-out scores with intervals."""
    rows = []
    for summary in sorted(summaries, key=lambda s: s["lr"]):
        for cell in summary["cells"]:
            row = dict(cell)
            found = scored.get((cell["cell"], summary["lr"]))
            if found is not None:
                test = found.predictions["test"]
                described = resamplers.intervals({"test": score_statistic(test, n_classes)}, test.rows,
                                                 summary["folds"])["test"]
                row["test"] = {key: summary_of(described, SCORES.index(key)) for key in ladder.PAIR_SCORES}
            rows.append(row)
    return rows


def compare(summaries: list[dict], scored: dict, params: dict, n_classes: int) -> dict:
    """metrics/matched.json: the budgets, the views, every model's scores and every view's ladder."""
    seen = views(summaries)
    comparisons = {}
    for view, lrs in seen.items():
        for pair in ladder.PAIRS:
            if pair.model in lrs and pair.against in lrs:
                comparisons[view, pair.model, pair.against] = paired(scored[pair.model, lrs[pair.model]],
                                                                    scored[pair.against, lrs[pair.against]])
    described = describe_differences(comparisons, {name: {"test": ("test",)} for name in comparisons}, params,
                                     n_classes)
    return {
        "budgets": [{"lr": s["lr"], **{k: s["cells"][0][k] for k in ("optimizer", "iterations", "batch_size")}}
                    for s in sorted(summaries, key=lambda s: s["lr"])],
        "views": [{"view": view, "cells": [{"cell": c, "lr": lr} for c, lr in lrs.items()]}
                  for view, lrs in seen.items()],
        "models": model_entries(scored, summaries, Resamplers(params), n_classes),
        "ladders": [{"view": view, "model": model, "against": against, "score": key,
                     **entry(described[view, model, against], "test", SCORES.index(key))}
                    for (view, model, against) in comparisons for key in ladder.PAIR_SCORES],
    }


def figure_rows(models: list[dict], score: str) -> list[list]:
    """plots/budgets/<score>.csv: one row per lr, one column per rung (empty where it blew up)."""
    lrs = sorted({m["lr"] for m in models})
    value = {(m["cell"], m["lr"]): m["test"][score]["value"] for m in models if "test" in m}
    return [[lr, *(value.get((cell, lr), "") for cell in ladder.RUNGS)] for lr in lrs]


def read_summaries(folder: Path, lrs: list[float]) -> list[dict]:
    """Each budget@<lr> stage's summary, checked to be of that lr and every rung."""
    summaries = []
    for lr in lrs:
        path = Path(folder) / f"{lr:g}.json"
        try:
            summaries.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            raise ProjectError(f"cannot read {path}: {error}; run 'dvc repro'") from None
    for lr, summary in zip(lrs, summaries):
        cells = {c.get("cell") for c in summary.get("cells", [])} if isinstance(summary, dict) else set()
        if not isinstance(summary, dict) or summary.get("lr") != lr or cells != set(ladder.RUNGS):
            raise ProjectError(f"{Path(folder) / f'{lr:g}.json'} is not the budget@{lr:g} stage's summary of every "
                               "rung; run 'dvc repro'")
    return summaries


def run(params: dict, lrs: list[float], prepared: Path, summaries_dir: Path, predictions_dir: Path,
        matched_path: Path, plots_dir: Path) -> dict:
    """The whole stage: read every budget's summary and predictions, compare, write."""
    torch.set_num_threads(resolve_threads(params["threads"]))
    categories = read_categories(prepared)
    summaries = read_summaries(summaries_dir, lrs)
    scored = {}
    for summary in summaries:
        for cell in summary["cells"]:
            if "diverged" not in cell:
                found = read_predictions(Path(predictions_dir) / f"{summary['lr']:g}" / f"{cell['cell']}.csv",
                                         categories)
                found.model = f"{cell['cell']}@{summary['lr']:g}"  # one name per model: statistics are kept by it
                scored[cell["cell"], summary["lr"]] = found
    result = compare(summaries, scored, params, len(categories))
    with output_set() as out:
        out.write_json(matched_path, result)
        for score in FIGURE_SCORES:
            out.write_bytes(Path(plots_dir) / f"{score}.csv",
                            table_bytes(["lr", *ladder.RUNGS], figure_rows(result["models"], score)))
    return result
