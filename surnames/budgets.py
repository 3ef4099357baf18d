"""Matched budgets: every rung of the ablation ladder trained alike, once per learning rate.

The `budget@<lr>` stages (`python -m stages.budget LR ...`) train each rung of surnames/ladder.py
on every listed fold with the `budgets` section of params.yaml (one optimizer, lr, step count,
batch, draw, clipping and seed for all), each at its own `train_<cell>.hidden_size` (capacity
is what the wide tanh RNN changes), and score each on both protocols. A comparison at one
budget then changes the cell and nothing else (surnames/matched.py compares them). A rung
that blows up at a budget is a result (recorded in the summary, with no predictions file),
not a failed stage.

The training is the training stages' own (surnames/train.py); only the budget differs, and the
validation, run once at the end, is what picks each cell's own best budget.
"""
import statistics
from pathlib import Path

from surnames import cells, native, predictions, score, train
from surnames.alphabet import N_LETTERS
from surnames.atomic import output_set
from surnames.data import fold_name, folds_in, read_categories
from surnames.errors import ProjectError
from surnames.ladder import RUNGS
from surnames.step import Diverged
from surnames.workers import run_jobs

ALIKE = ("optimizer", "lr", "iterations", "batch_size")  # what "trained alike" compares
COURSE_TRAINING = {"loss_weights": "none", "weight_decay": 0.0, "keep": "final", "select_by": "balanced_accuracy",
                   "lr_schedule": "none", "dropout": 0.0}  # the course's plain training, for every rung


def training_params(budgets: dict, lr: float, hidden_size: int) -> dict:
    """A rung's full training params at one budget: the `budgets` section, the lr, the rung's
    own hidden size; validation once, at the end."""
    shared = {key: budgets[key] for key in ("optimizer", "iterations", "batch_size", "sampler", "grad_clip", "seed",
                                            "folds", "processes", "threads")}
    return {**COURSE_TRAINING, **shared, "lr": lr, "hidden_size": hidden_size, "eval_every": budgets["iterations"]}


def train_fold(cell: str, params: dict, fold: int, fold_dir: Path, categories: list[str], model_path: Path,
               curves_path: Path) -> dict:
    """One rung on one fold (in a worker): its summary, or the step at which it blew up."""
    try:
        return train.train_fold(cell, params, fold, fold_dir, categories, model_path, curves_path)
    except Diverged as error:
        print(f"budget lr {params['lr']:g}: {cell} fold {fold} blew up at step {error.step}", flush=True)
        return {"fold": fold, "diverged_at_step": error.step}


def largest_first(hidden_sizes: dict[str, int], n_classes: int) -> list[str]:
    """The rungs by parameter count, largest first: the longest jobs start first, so that the
    pool's last minutes are not one large job alone."""
    size = {cell: sum(p.numel() for p in cells.build(cell, N_LETTERS, hidden, n_classes).parameters())
            for cell, hidden in hidden_sizes.items()}
    return sorted(hidden_sizes, key=lambda cell: -size[cell])


def cell_summary(cell: str, params: dict, folds: list[dict]) -> dict:
    summary = {"cell": cell, **{key: params[key] for key in ALIKE}, "hidden_size": params["hidden_size"]}
    blown = [f for f in folds if "diverged_at_step" in f]
    if blown:
        return {**summary, "diverged": [{"fold": f["fold"], "step": f["diverged_at_step"]} for f in blown]}
    return {**summary, **{key: round(statistics.fmean(f["final"][key] for f in folds), 6)
                          for key in ("val_accuracy", "val_balanced_accuracy")}}


def run(lr: float, budgets: dict, hidden_sizes: dict[str, int], prepared: Path, models_dir: Path,
        predictions_dir: Path, summary_path: Path) -> dict:
    """The whole stage: every rung at this lr on every fold, its models, its predictions on both
    protocols, and the summary (what each rung was trained with, and its mean val scores)."""
    missing = [fold for fold in budgets["folds"] if fold not in folds_in(prepared)]
    if missing:
        raise ProjectError(f"budgets.folds lists fold {missing[0]}, but {prepared} has folds {folds_in(prepared)}; "
                           "check prepare.folds")
    if set(hidden_sizes) != set(RUNGS):
        raise ProjectError(f"the matched budgets train every rung ({', '.join(RUNGS)}): give each a hidden size")
    categories, folds = read_categories(prepared), sorted(budgets["folds"])
    params = {cell: training_params(budgets, lr, hidden) for cell, hidden in hidden_sizes.items()}
    with output_set() as out:
        with out.folder(models_dir) as model_stage, out.folder(predictions_dir) as prediction_stage:
            order = largest_first(hidden_sizes, len(categories))
            for cell in order:
                (model_stage / cell).mkdir()
            jobs = [(cell, params[cell], fold, Path(prepared) / fold_name(fold), categories,
                     model_stage / cell / f"{fold_name(fold)}.pt", model_stage / cell / f"{fold_name(fold)}.csv")
                    for cell in order for fold in folds]
            native.library()  # built here once, if it must be, not by every worker at the same moment
            results = run_jobs(train_fold, jobs, budgets["processes"])
            by_cell = {cell: [r for job, r in zip(jobs, results) if job[0] == cell] for cell in RUNGS}
            summaries = [cell_summary(cell, params[cell], by_cell[cell]) for cell in RUNGS]
            data = score.Folds(prepared, folds)
            for cell, summary in zip(RUNGS, summaries):
                if "diverged" not in summary:
                    fold_cells = score.load_fold_models(model_stage / cell, folds, categories, cell)
                    scored = data.predict(cell, score.cell_predictors(fold_cells),
                                          score.prior_power(cell, params[cell]))
                    (prediction_stage / f"{cell}.csv").write_bytes(predictions.csv_bytes(scored, categories))
        result = {"lr": lr, "folds": folds, "cells": summaries}
        out.write_json(summary_path, result)
    return result
