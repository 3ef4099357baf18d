"""matched: the ladder's steps at every lr and at each cell's own best, and their verdicts.

Reads every `ladder@<cell>-<lr>` point (surnames/grid.py): its metrics and its per-name
predictions. A view is one model per cell:
- `lr <x>`: every cell trained alike at that lr;
- `own best`: each cell at its best lr on val names, chosen per score; tied lrs are all kept
  (surnames/verdicts.py), so a val tie is never settled by a small margin.
Each step of the registry is `model − against` on held-out names, paired on the same two-level
bootstrap draws as every other comparison. Writes metrics/ladder.json (one verdict per step,
score and view, and the steps that hold), metrics/matched.json (every point's scores, the own
best choices, the steps by name length and their gradient flow) and the figures' data.
"""
import itertools
import json
from pathlib import Path

import torch

from surnames import ladder, verdicts
from surnames.atomic import output_set, table_bytes
from surnames.data import read_categories
from surnames.errors import ProjectError
from surnames.evaluate import describe_differences, entry, paired
from surnames.grid import point_name
from surnames.ladder import CLAIM_SCORES, OWN_BEST, STEPS, TABLE_SCORES
from surnames.params import resolve_threads
from surnames.predictions import read as read_predictions
from surnames.score import length_buckets
from surnames.scores import SCORES

LR_KEYS = ("test", "length_corrected", "length_corrected_trend", "gradient_ratio")  # described at each lr


def view_name(lr: float) -> str:
    return f"lr {lr:g}"


def read_points(metrics_dir: Path, predictions_dir: Path, lrs: list[float], categories: list[str]):
    """({(cell, lr): metrics}, {(cell, lr): scored predictions}) of every grid point that did not blow up."""
    metrics, scored = {}, {}
    for cell, lr in itertools.product(ladder.RUNGS, lrs):
        path = Path(metrics_dir) / f"{point_name(cell, lr)}.json"
        try:
            metrics[cell, lr] = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ProjectError(f"cannot read {path} ({error}); run 'dvc repro' (stage ladder@{point_name(cell, lr)})"
                               ) from None
        if metrics[cell, lr].get("cell") != cell or metrics[cell, lr].get("lr") != lr:
            raise ProjectError(f"{path} is not ladder@{point_name(cell, lr)}'s metrics; run 'dvc repro'")
        if "diverged" not in metrics[cell, lr]:
            found = read_predictions(Path(predictions_dir) / f"{point_name(cell, lr)}.csv", categories)
            found.model = point_name(cell, lr)  # one name per model: statistics are kept by it
            scored[cell, lr] = found
    return metrics, scored


def own_best(scored: dict, metrics: dict, lrs: list[float], params: dict, n_classes: int) -> list[dict]:
    """Per cell and score: its val score at each lr (the point's metrics), the best lr and every lr
    tied with it."""
    val = {(cell, a, b): paired(scored[cell, a], scored[cell, b])
           for cell in ladder.RUNGS for a, b in itertools.permutations(lrs, 2)
           if (cell, a) in scored and (cell, b) in scored}
    described = describe_differences(val, {name: {"val": ("val",)} for name in val}, params, n_classes)
    rows = []
    for cell, score in itertools.product(ladder.RUNGS, TABLE_SCORES):
        values = {lr: scored[cell, lr] for lr in lrs if (cell, lr) in scored}
        if not values:
            continue
        column = SCORES.index(score)
        value = {lr: metrics[cell, lr]["val"][score]["value"] for lr in values}
        best = max(sorted(values), key=lambda lr: value[lr])
        differences = {lr: entry(described[cell, best, lr], "val", column) for lr in values if lr != best}
        rows.append({"cell": cell, "score": score, "val": [{"lr": lr, "value": round(value[lr], 6)} for lr in values],
                     "best": best, "lrs": verdicts.tied(best, differences),
                     "differences": [{"lr": lr, **d} for lr, d in differences.items()]})
    return rows


def choices(step, score: str, view: str, lrs: list[float], best: dict) -> list[tuple[float, float]]:
    """The (model lr, against lr) pairs a view compares: one at an lr view, every tied pair at own best."""
    if view != OWN_BEST:
        lr = lrs[[view_name(x) for x in lrs].index(view)]
        return [(lr, lr)]
    return list(itertools.product(best[step.model, score], best[step.against, score]))


def compare(scored: dict, lrs: list[float], params: dict, n_classes: int, best_rows: list[dict]) -> dict:
    """Every step's differences: all scores in every view, by name length and gradient flow at each lr."""
    best = {(row["cell"], row["score"]): row["lrs"] for row in best_rows}
    views = [*(view_name(lr) for lr in lrs), OWN_BEST]
    wanted = {}  # (model, model lr, against, against lr) -> the keys to describe
    for step, score, view in itertools.product(STEPS, TABLE_SCORES, views):
        for a, b in choices(step, score, view, lrs, best):
            if (step.model, a) in scored and (step.against, b) in scored:
                keys = LR_KEYS if a == b else ("test",)
                wanted[step.model, a, step.against, b] = sorted({*wanted.get((step.model, a, step.against, b), ()),
                                                                 *keys})
    comparisons = {name: paired(scored[name[0], name[1]], scored[name[2], name[3]]) for name in wanted}
    described = describe_differences(comparisons, {name: {"test": tuple(keys)} for name, keys in wanted.items()},
                                     params, n_classes)
    entries = []
    for step, score, view in itertools.product(STEPS, TABLE_SCORES, views):
        found = [{"model_lr": a, "against_lr": b, **entry(described[step.model, a, step.against, b], "test",
                                                          SCORES.index(score))}
                 for a, b in choices(step, score, view, lrs, best) if (step.model, a, step.against, b) in described]
        if found:
            for choice in found:
                choice["verdict"] = verdicts.verdict(choice["low"], choice["high"])
            first = {key: found[0][key] for key in ("difference", "low", "high", "per_fold", "folds_same_sign")}
            entries.append({"step": step.name, "score": score, "view": view, **first,
                            "verdict": verdicts.shared([c["verdict"] for c in found]), "choices": found})
    return {"views": views, "entries": entries, "described": described}


def by_length(described: dict, lrs: list[float], uppers: list[int]) -> tuple[list[dict], list[dict]]:
    """Each step's prior-corrected accuracy difference per length bucket, and its longest − shortest, at each lr."""
    buckets, rows, trends = length_buckets(uppers), [], []
    for step, lr in itertools.product(STEPS, lrs):
        found = described.get((step.model, lr, step.against, lr))
        if found is None:
            continue
        rows += [{"step": step.name, "view": view_name(lr), "length": label,
                  **entry(found, "length_corrected", i)} for i, (_, _, label) in enumerate(buckets)]
        trend = entry(found, "length_corrected_trend")
        trends.append({"step": step.name, "view": view_name(lr), **trend,
                       "verdict": verdicts.verdict(trend["low"], trend["high"])})
    return rows, trends


def gradient_steps(described: dict, lrs: list[float]) -> list[dict]:
    """Each step's difference in gradient ratio (farthest over nearest distance) at each lr."""
    rows = []
    for step, lr in itertools.product(STEPS, lrs):
        found = described.get((step.model, lr, step.against, lr))
        if found is not None:
            difference = entry(found, "gradient_ratio")
            rows.append({"step": step.name, "view": view_name(lr), **difference,
                         "verdict": verdicts.verdict(difference["low"], difference["high"])})
    return rows


def model_rows(metrics: dict) -> list[dict]:
    """Every grid point: what it was trained with, its val and held-out scores, its gradient ratio."""
    rows = []
    for (cell, lr), m in metrics.items():
        row = {key: m[key] for key in ("cell", "lr", "hidden_size", "parameters")}
        if "diverged" in m:
            rows.append({**row, "diverged": m["diverged"]})
            continue
        rows.append({**row, "val": {k: m["val"][k] for k in TABLE_SCORES},
                     "test": {k: m["test"][k] for k in TABLE_SCORES},
                     "gradient_ratio": m["gradient_flow"]["ratio_far_to_near"]})
    return rows


def figure_rows(models: list[dict], score: str, lrs: list[float]) -> list[list]:
    """plots/budgets/<score>.csv: one row per cell and lr, the cells in registry order (a point
    that blew up has no row). Long, not one column per cell: dvc.yaml's plot names no cell."""
    value = {(m["cell"], m["lr"]): m["test"][score]["value"] for m in models if "test" in m}
    return [[lr, cell, value[cell, lr]] for cell in ladder.RUNGS for lr in lrs if (cell, lr) in value]


def answer_rows(entries: list[dict], holds: list[dict]) -> list[list]:
    """plots/answer.csv: the forest plot's rows, one per step, claim score, view and own-best choice."""
    held = {h["step"] for h in holds}
    return [[e["step"], e["score"], e["view"], i, c["difference"], c["low"], c["high"], c["verdict"],
             "holds" if e["step"] in held else "does not hold"]
            for e in entries if e["score"] in CLAIM_SCORES for i, c in enumerate(e["choices"])]


# "ladder_step", not "step": DVC's plots add a row-index field named step
ANSWER_COLUMNS = ["ladder_step", "score", "view", "choice", "difference", "low", "high", "verdict", "step_holds"]


def run(params: dict, lrs: list[float], prepared: Path, metrics_dir: Path, predictions_dir: Path,
        ladder_path: Path, matched_path: Path, answer_path: Path, plots_dir: Path) -> dict:
    """The whole stage: read every grid point, compare, judge, write."""
    torch.set_num_threads(resolve_threads(params["threads"]))
    categories = read_categories(prepared)
    metrics, scored = read_points(metrics_dir, predictions_dir, lrs, categories)
    best_rows = own_best(scored, metrics, lrs, params, len(categories))
    compared = compare(scored, lrs, params, len(categories), best_rows)
    holds = verdicts.holding(compared["entries"], [s.name for s in STEPS], compared["views"], CLAIM_SCORES)
    lengths, trends = by_length(compared["described"], lrs, params["length_buckets"])
    models = model_rows(metrics)
    result = {"claim_scores": list(CLAIM_SCORES), "views": compared["views"],
              "steps": [vars(s) for s in STEPS], "verdicts": compared["entries"], "holds": holds,
              "ties": [{k: row[k] for k in ("cell", "score", "lrs")} for row in best_rows if len(row["lrs"]) > 1]}
    details = {"lrs": lrs, "models": models, "own_best": best_rows, "by_length": lengths, "length_trend": trends,
               "gradient_steps": gradient_steps(compared["described"], lrs)}
    with output_set() as out:
        out.write_json(ladder_path, result)
        out.write_json(matched_path, details)
        out.write_bytes(answer_path, table_bytes(ANSWER_COLUMNS, answer_rows(compared["entries"], holds)))
        for score in ("accuracy", *CLAIM_SCORES):
            out.write_bytes(Path(plots_dir) / f"{score}.csv",
                            table_bytes(["lr", "cell", score], figure_rows(models, score, lrs)))
    return result
