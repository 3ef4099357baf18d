"""One point of the ladder's grid: one cell trained alike with every other at one lr, then scored.

The `ladder@<cell>-<lr>` stages (`python -m stages.ladder CELL LR ...`, a dvc.yaml `matrix`
over the registry's cells and `budgets.lrs`) train the cell on every listed fold with the
`budgets` section of params.yaml (one optimizer, lr, step count, batch, draw, clipping and
seed for every cell) at its own `budgets.hidden_size`, and score it as the course cells are
scored: both protocols and the val names, per language, by name length, gradient flow and
confusion. A step between two cells at one lr then changes the cell and nothing else
(surnames/matched.py compares them). A cell that blows up is a result (recorded in its
metrics, with an empty predictions file), not a failed stage.
"""
from pathlib import Path

import torch

from surnames import cells, native, predictions, score, train
from surnames.alphabet import N_LETTERS
from surnames.atomic import output_set
from surnames.data import fold_name, folds_in, read_categories
from surnames.errors import ProjectError
from surnames.ladder import COURSE
from surnames.params import resolve_threads
from surnames.predictions import COLUMNS
from surnames.scores import SCORES
from surnames.step import Diverged
from surnames.workers import run_jobs

ALIKE = ("optimizer", "lr", "iterations", "batch_size", "sampler", "grad_clip", "seed")  # "trained alike"
COURSE_TRAINING = {"loss_weights": "none", "weight_decay": 0.0, "keep": "final", "select_by": "balanced_accuracy",
                   "lr_schedule": "none", "dropout": 0.0}  # the course's plain training, for every cell


def point_name(cell: str, lr: float) -> str:
    """The grid point's name, as dvc.yaml's matrix names its stage: ladder@<cell>-<lr>."""
    return f"{cell}-{lr:g}"


def training_params(budgets: dict, lr: float, hidden_size: int) -> dict:
    """A cell's full training params at one lr: the `budgets` section, the lr, the cell's own
    hidden size; validation once, at the end."""
    shared = {key: budgets[key] for key in ("optimizer", "iterations", "batch_size", "sampler", "grad_clip", "seed",
                                            "folds", "processes", "threads")}
    return {**COURSE_TRAINING, **shared, "lr": lr, "hidden_size": hidden_size, "eval_every": budgets["iterations"]}


def cell_training(cell: str, params: dict) -> dict:
    """A cell's training params outside the grid (tools, benchmarks): a course cell's own section,
    any other cell as the ladder trains it at its last lr."""
    if cell in COURSE:
        return params[f"train_{cell}"]
    budgets = params["budgets"]
    return training_params(budgets, budgets["lrs"][-1], budgets["hidden_size"][cell])


def train_fold(cell: str, params: dict, fold: int, fold_dir: Path, categories: list[str], model_path: Path,
               curves_path: Path) -> dict:
    """One fold (in a worker): its summary, or the step at which it blew up."""
    try:
        return train.train_fold(cell, params, fold, fold_dir, categories, model_path, curves_path,
                                f"ladder@{point_name(cell, params['lr'])}")
    except Diverged as error:
        print(f"ladder@{point_name(cell, params['lr'])}: fold {fold} blew up at step {error.step}", flush=True)
        return {"fold": fold, "diverged_at_step": error.step}


def parameter_count(cell: str, hidden_size: int, n_classes: int) -> int:
    return sum(p.numel() for p in cells.build(cell, N_LETTERS, hidden_size, n_classes).parameters())


def scored_metrics(cell: str, params: dict, evaluate: dict, data: score.Folds, models_dir: Path):
    """(the scored predictions, the metrics) of the fold models in `models_dir`: every score on
    both protocols and the val names, per language, by length, gradient flow and confusion."""
    fold_cells = score.load_fold_models(models_dir, data.folds, data.categories, cell)
    scored = data.predict(cell, score.cell_predictors(fold_cells), score.prior_power(cell, params))
    scored.gradients = score.gradient_flow(fold_cells, data.encoded["test"], evaluate["gradient_min_letters"])
    measured = score.statistics(scored, len(data.categories), evaluate["length_buckets"])
    wanted = measured.by_protocol()
    wanted["test"].update(length_corrected=measured.length_corrected)
    described, resamplers = {}, score.Resamplers(evaluate)
    for protocol, statistics in wanted.items():
        described.update(resamplers.intervals(statistics, data.rows[protocol], data.folds))
    metrics = score.metrics_of(data, described, len(scored.gradients.picked), evaluate["gradient_min_letters"] - 2)
    metrics["val"] = {key: score.summary_of(described["val"], i) for i, key in enumerate(SCORES)}
    metrics["by_length"] = [
        {"length": label, "accuracy": score.summary_of(described["length"], i),
         "corrected_accuracy": score.summary_of(described["length_corrected"], i)}
        for i, (_, _, label) in enumerate(score.length_buckets(evaluate["length_buckets"]))]
    test = scored.predictions["test"]
    confusion = torch.zeros(len(data.categories), len(data.categories), dtype=torch.long)
    confusion.index_put_((test.rows.targets, test.predicted), torch.ones_like(test.predicted), accumulate=True)
    metrics["confusion"] = {"languages": data.categories, "counts": confusion.tolist()}  # rows: actual
    return scored, metrics


def run(cell: str, lr: float, budgets: dict, evaluate: dict, prepared: Path, models_dir: Path,
        predictions_path: Path, metrics_path: Path) -> dict:
    """The whole stage: the cell at this lr on every fold, its models, its predictions and its
    metrics (what it was trained with, and how it scores)."""
    cells.check(cell)  # its registry row and class, before anything is trained or written
    if lr not in budgets["lrs"]:
        raise ProjectError(f"lr {lr:g} is not one of budgets.lrs {budgets['lrs']}; dvc.yaml's ladder stages run one "
                           "per cell and lr")
    missing = [fold for fold in budgets["folds"] if fold not in folds_in(prepared)]
    if missing:
        raise ProjectError(f"budgets.folds lists fold {missing[0]}, but {prepared} has folds {folds_in(prepared)}; "
                           "check prepare.folds")
    torch.set_num_threads(resolve_threads(evaluate["threads"]))
    categories, folds = read_categories(prepared), sorted(budgets["folds"])
    params = training_params(budgets, lr, budgets["hidden_size"][cell])
    trained = {"cell": cell, **{key: params[key] for key in ALIKE}, "hidden_size": params["hidden_size"],
               "parameters": parameter_count(cell, params["hidden_size"], len(categories)), "folds": folds}
    with output_set() as out:
        with out.folder(models_dir) as model_stage:
            jobs = [(cell, params, fold, Path(prepared) / fold_name(fold), categories,
                     model_stage / f"{fold_name(fold)}.pt", model_stage / f"{fold_name(fold)}.csv") for fold in folds]
            native.library()  # built here once, if it must be, not by every worker at the same moment
            results = run_jobs(train_fold, jobs, budgets["processes"], names=[f"fold {fold}" for fold in folds])
            blown = [{"fold": r["fold"], "step": r["diverged_at_step"]} for r in results if "diverged_at_step" in r]
            if blown:
                metrics = {**trained, "diverged": blown}
                out.write_bytes(predictions_path, (",".join(COLUMNS) + "\n").encode())
            else:
                data = score.Folds(prepared, folds, protocols=predictions.ALL_PROTOCOLS)
                scored, measured = scored_metrics(cell, params, evaluate, data, model_stage)
                metrics = {**trained, **measured}
                out.write_bytes(predictions_path, predictions.csv_bytes(scored, categories))
        out.write_json(metrics_path, metrics)
    return metrics
