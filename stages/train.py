"""train_rnn / train_lstm: one script,
`python -m stages.train MODEL PREPARED MODEL_FILE CURVES SUMMARY` (paths from dvc.yaml).

Trains one seed cell on minibatches drawn from the train split, validates on the val
split every `eval_every` steps, and writes the model file, the curve rows (CSV) and a
training summary (JSON). Params: the `train_<model>` section of params.yaml. Speed
(samples/s) is printed, never written to an output, so equal params give equal files.
"""
import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from stages import model_file, models
from stages.alphabet import N_LETTERS
from stages.atomic import write_csv, write_json
from stages.data import Encoded, Sampler, predict_log_probs, read_categories, read_encoded
from stages.errors import ProjectError, cli
from stages.params import check_choice, check_number, load_params
from stages.scores import score_log_probs
from stages.step import OPTIMIZERS, optimizer_step

CURVE_COLUMNS = ["step", "samples_seen", "train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy"]


def check_params(params: dict, section: str) -> dict:
    check_number(params, "hidden_size", int, 1, section=section)
    check_choice(params, "optimizer", OPTIMIZERS, section)
    if check_number(params, "lr", float, section=section) <= 0:
        raise ProjectError(f"invalid param {section}.lr={params['lr']!r}: expected a number > 0")
    check_number(params, "batch_size", int, 1, section=section)
    check_number(params, "iterations", int, 1, section=section)
    check_number(params, "eval_every", int, 1, section=section)
    check_choice(params, "sampler", Sampler.KINDS, section)
    check_number(params, "grad_clip", float, 0, section=section)
    check_number(params, "seed", int, 0, section=section)
    check_number(params, "threads", int, 1, section=section)
    return params


def validate(model: models.SeedCell, encoded: Encoded) -> dict[str, float]:
    """Scores and mean NLL over a whole encoded split."""
    return score_log_probs(predict_log_probs(model, encoded), encoded.targets)


def curve_row(step: int, batch_size: int, train_losses: list[float], val: dict) -> dict:
    return {"step": step, "samples_seen": step * batch_size, "train_loss": sum(train_losses) / len(train_losses),
            "val_loss": val["loss"], "val_accuracy": val["accuracy"], "val_balanced_accuracy": val["balanced_accuracy"]}


def train(model_name: str, params: dict, train_set: Encoded, val_set: Encoded, log=print):
    """Train one cell; return (model, curve rows, summary)."""
    section = f"train_{model_name}"
    torch.manual_seed(params["seed"])
    torch.set_num_threads(params["threads"])
    model = models.build(model_name, N_LETTERS, params["hidden_size"], train_set.n_classes)
    optimizer = OPTIMIZERS[params["optimizer"]](model.parameters(), lr=params["lr"])
    sampler = Sampler(train_set, params["sampler"], torch.Generator().manual_seed(params["seed"]))
    iterations, batch_size = params["iterations"], params["batch_size"]
    curves, losses, train_seconds = [], [], 0.0
    # A bar on a terminal; otherwise (DVC, CI, files) one plain line per validation.
    bar = tqdm(total=iterations * batch_size, desc=section, unit="sample", unit_scale=True,
               disable=not sys.stderr.isatty(), leave=False)
    for step in range(1, iterations + 1):
        started = time.perf_counter()
        batch = train_set.batch(sampler.draw(batch_size))
        losses.append(optimizer_step(model, optimizer, batch, params["grad_clip"], step, section))
        train_seconds += time.perf_counter() - started
        bar.update(batch_size)
        if step % params["eval_every"] == 0 or step == iterations:
            row = curve_row(step, batch_size, losses, validate(model, val_set))
            curves.append(row)
            losses = []
            if bar.disable:
                log(f"{section} step {step}/{iterations}: train_loss {row['train_loss']:.3f} "
                    f"val_loss {row['val_loss']:.3f} val_acc {row['val_accuracy']:.3f} "
                    f"val_bal_acc {row['val_balanced_accuracy']:.3f} "
                    f"({step * batch_size / train_seconds:,.0f} samples/s)")
            else:
                bar.set_postfix(val_acc=f"{row['val_accuracy']:.3f}", val_bal_acc=f"{row['val_balanced_accuracy']:.3f}")
    bar.close()
    log(f"{section}: {iterations * batch_size / train_seconds:,.0f} samples/s over {train_seconds:.1f} s "
        "of training steps")
    return model, curves, summarise(curves, iterations, batch_size)


def summarise(curves: list[dict], iterations: int, batch_size: int) -> dict:
    """The training summary: deterministic for equal params (timings are only logged)."""
    final = curves[-1]
    best = max(curves, key=lambda row: row["val_balanced_accuracy"])  # the first of equals
    return {
        "iterations": iterations, "samples_seen": iterations * batch_size,
        "final": {k: round(final[k], 6) for k in ("val_loss", "val_accuracy", "val_balanced_accuracy")},
        "best": {k: round(best[k], 6) for k in ("step", "val_loss", "val_accuracy", "val_balanced_accuracy")},
    }


def run(model_name: str, params: dict, prepared: Path, model_path: Path, curves_path: Path,
        summary_path: Path) -> dict:
    """The whole stage: read the prepared data, train, write the three outputs."""
    categories = read_categories(prepared)
    encoded = read_encoded(prepared, ("train", "val"), categories)
    model, curves, summary = train(model_name, params, encoded["train"], encoded["val"])
    model_file.save(model_path, model_name, model, categories)
    write_csv(curves_path, pd.DataFrame(curves, columns=CURVE_COLUMNS))
    write_json(summary_path, summary)
    return summary


@cli
def main(argv):
    parser = argparse.ArgumentParser(prog="python -m stages.train", description=__doc__.splitlines()[0])
    parser.add_argument("model", help=" or ".join(models.CELLS))
    parser.add_argument("prepared", type=Path, help="the prepared data folder")
    parser.add_argument("model_file", type=Path, help="where to write the trained model")
    parser.add_argument("curves", type=Path, help="where to write the training curves (CSV)")
    parser.add_argument("summary", type=Path, help="where to write the training summary (JSON)")
    args = parser.parse_args(argv)
    if args.model not in models.CELLS:
        raise ProjectError(f"unknown model {args.model!r}: expected one of {', '.join(models.CELLS)}")
    section = f"train_{args.model}"
    params = check_params(load_params(section), section)
    summary = run(args.model, params, args.prepared, args.model_file, args.curves, args.summary)
    print(f"{section}: final val balanced accuracy {summary['final']['val_balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
