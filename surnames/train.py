"""train_rnn and train_lstm (the course pair), and every fold of a ladder@<cell>-<lr> point
(surnames/grid.py): one model per fold,
`python -m stages.train MODEL PREPARED MODELS_DIR CURVES_DIR SUMMARY` (paths from dvc.yaml).

For each fold i in `folds`, trains one cell of surnames/cells.py (RNG seed `seed + i`) on minibatches drawn from
fold i's train split, validates on its val split every `eval_every` steps, and writes
MODELS_DIR/fold-<i>.pt and CURVES_DIR/fold-<i>.csv; then CURVES_DIR/mean.csv (the folds'
mean curve, with the lowest and highest fold) and one training summary (JSON).
Folds run in `processes` worker processes of `threads` torch threads each. Params: the
`train_<model>` section of params.yaml. Speed (samples/s) is printed, never written to an
output, so equal params give equal files.
"""
import copy
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from surnames import cells, model_file, native
from surnames.alphabet import N_LETTERS
from surnames.atomic import output_set, write_csv
from surnames.data import Encoded, Sampler, fold_name, folds_in, predict_log_probs, read_categories, read_encoded
from surnames.errors import ProjectError
from surnames.params import resolve_threads
from surnames.scores import score_log_probs
from surnames.step import Optimizer, cosine_lr, optimizer_step
from surnames.workers import run_jobs

CURVE_COLUMNS = ["step", "samples_seen", "train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy"]
FINAL_KEYS = ("val_loss", "val_accuracy", "val_balanced_accuracy")



def class_weights(encoded: Encoded) -> torch.Tensor:
    """Balanced NLL weights, n_rows / (n_classes * rows of the class), as scikit-learn's "balanced"."""
    counts = torch.bincount(encoded.targets, minlength=encoded.n_classes).float()
    return len(encoded) / (encoded.n_classes * counts.clamp(min=1))


def make_optimizer(params: dict, model: cells.Cell) -> Optimizer:
    """The params' optimizer (surnames/step.py); Adam with weight decay is AdamW."""
    return Optimizer(params["optimizer"], model.parameters(), params["lr"], params["weight_decay"])


def make_schedule(params: dict, optimizer: Optimizer):
    """With lr_schedule: cosine, a function to call with each step's number once it is done
    (the lr decays to 0 over the run); else None."""
    if params["lr_schedule"] != "cosine":
        return None
    base = optimizer.lr
    return lambda step: setattr(optimizer, "lr", cosine_lr(base, step, params["iterations"]))


def validate(model: cells.Cell, encoded: Encoded) -> dict[str, float]:
    """Scores and mean NLL over a whole encoded split (in eval mode: no dropout)."""
    model.eval()
    try:
        return score_log_probs(predict_log_probs(model, encoded), encoded.targets)
    finally:
        model.train()


def curve_row(step: int, batch_size: int, train_losses: list[float], val: dict) -> dict:
    return {"step": step, "samples_seen": step * batch_size, "train_loss": sum(train_losses) / len(train_losses),
            "val_loss": val["loss"], "val_accuracy": val["accuracy"], "val_balanced_accuracy": val["balanced_accuracy"]}


def train(model_name: str, params: dict, train_set: Encoded, val_set: Encoded, where: str = "",
          stage: str | None = None):
    """Train one cell; return (model, curve rows, seconds spent in optimizer steps, the step
    whose weights are kept). `stage` (default train_<model>) and `where` (e.g. " fold 2") say
    in errors which run failed."""
    section = stage or f"train_{model_name}"
    torch.manual_seed(params["seed"])
    torch.set_num_threads(resolve_threads(params["threads"]))
    model = cells.build(model_name, N_LETTERS, params["hidden_size"], train_set.n_classes)
    model.hidden_dropout = params["dropout"]
    optimizer, weights = make_optimizer(params, model), None
    schedule = make_schedule(params, optimizer)
    if params["loss_weights"] == "balanced":
        weights = class_weights(train_set)
    sampler = Sampler(train_set, params["sampler"], torch.Generator().manual_seed(params["seed"]))
    iterations, batch_size = params["iterations"], params["batch_size"]
    curves, losses, train_seconds, best = [], [], 0.0, None
    for step in range(1, iterations + 1):
        started = time.perf_counter()
        batch = train_set.batch(sampler.draw(batch_size))
        losses.append(optimizer_step(model, optimizer, batch, params["grad_clip"], step, section, where, weights))
        if schedule is not None:
            schedule(step)
        train_seconds += time.perf_counter() - started
        if step % params["eval_every"] == 0 or step == iterations:
            val = validate(model, val_set)
            curves.append(curve_row(step, batch_size, losses, val))
            losses = []
            if params["keep"] == "best" and (best is None or val[params["select_by"]] > best[0]):
                best = (val[params["select_by"]], step, copy.deepcopy(model.state_dict()))
    if best is None:
        return model, curves, train_seconds, iterations
    model.load_state_dict(best[2])
    return model, curves, train_seconds, best[1]


def train_fold(model_name: str, params: dict, fold: int, fold_dir: Path, categories: list[str],
               model_path: Path, curves_path: Path, stage: str | None = None) -> dict:
    """One fold, start to finish (run in a worker process): its model file, curves and summary.
    `stage` names the run in messages (default train_<model>)."""
    section = stage or f"train_{model_name}"
    encoded = read_encoded(fold_dir, ("train", "val"), categories)
    model, curves, seconds, kept = train(model_name, {**params, "seed": params["seed"] + fold}, encoded["train"],
                                         encoded["val"], f" fold {fold}", section)
    model_file.save(model_path, model_name, model, categories, prior_power=model_file.cell_prior_power(params),
                    train_counts=torch.bincount(encoded["train"].targets, minlength=len(categories)).tolist())
    write_csv(curves_path, pd.DataFrame(curves, columns=CURVE_COLUMNS))
    summary = {"fold": fold, **summarise(curves, kept)}
    print(f"{section} fold {fold}: final val accuracy {summary['final']['val_accuracy']:.3f}, balanced "
          f"{summary['final']['val_balanced_accuracy']:.3f} "
          f"({params['iterations'] * params['batch_size'] / seconds:,.0f} samples/s)", flush=True)
    return summary


def summarise(curves: list[dict], kept_step: int) -> dict:
    """One fold's final, best and kept validation: deterministic for equal params (timings
    are only logged). `kept` is the checkpoint saved (the final one unless keep: best)."""
    final = curves[-1]
    best = max(curves, key=lambda row: row["val_balanced_accuracy"])  # the first of equals
    kept = next(row for row in curves if row["step"] == kept_step)
    return {"final": {k: round(final[k], 6) for k in FINAL_KEYS},
            "best": {k: round(best[k], 6) for k in ("step", *FINAL_KEYS)},
            "kept": {k: round(kept[k], 6) for k in ("step", *FINAL_KEYS)}}


def run(model_name: str, params: dict, prepared: Path, models_dir: Path, curves_dir: Path,
        summary_path: Path) -> dict:
    """The whole stage: every listed fold trained, then the three outputs written. Model and
    curve folders are staged and renamed into place only when every fold has succeeded."""
    cells.check(model_name)  # its registry row and class, before anything is trained or written
    categories = read_categories(prepared)
    available = folds_in(prepared)
    missing = [fold for fold in params["folds"] if fold not in available]
    if missing:
        raise ProjectError(f"train_{model_name}.folds lists fold {missing[0]}, but {prepared} has folds "
                           f"{available}; check prepare.folds")
    with output_set() as out:  # models, curves and summary: all three renamed into place, or none
        with out.folder(models_dir) as model_stage, out.folder(curves_dir) as curve_stage:
            jobs = [(model_name, params, fold, Path(prepared) / fold_name(fold), categories,
                     model_stage / f"{fold_name(fold)}.pt", curve_stage / f"{fold_name(fold)}.csv")
                    for fold in sorted(params["folds"])]
            native.library()  # built here once, if it must be, not by every worker at the same moment
            folds = run_jobs(train_fold, jobs, params["processes"], names=[f"fold {job[2]}" for job in jobs])
            write_csv(curve_stage / "mean.csv", mean_curve([pd.read_csv(job[-1]) for job in jobs]))
        summary = {"iterations": params["iterations"], "samples_seen": params["iterations"] * params["batch_size"],
                   "kept_mean": {k: round(statistics.fmean(f["kept"][k] for f in folds), 6) for k in FINAL_KEYS},
                   "folds": folds}  # a list: in the file, not in `dvc exp show`'s columns
        out.write_json(summary_path, summary)
    return summary


def mean_curve(curves: list[pd.DataFrame]) -> pd.DataFrame:
    """The folds' curves averaged step by step, with the lowest and highest fold for the
    validation scores (a band for `dvc plots show`)."""
    stacked = pd.concat(curves).groupby("step", sort=True)
    mean = stacked.mean()
    for column in ("val_accuracy", "val_balanced_accuracy"):
        mean[f"{column}_min"], mean[f"{column}_max"] = stacked[column].min(), stacked[column].max()
    return mean.reset_index()
