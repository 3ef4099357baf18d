"""One cell at several training budgets on one fold: how much the budget alone moves its scores.

    python -m tools.budget_check lstm 0.003x500 0.01x500 [--fold 0]

Each budget is LRxSTEPS; everything else is the cell's `train_<cell>` section of params.yaml (a
course cell) or the ladder's `budgets` section at the cell's own hidden size (any other cell).
The cell is trained once per budget with the training stage's own code (surnames.train.train,
the fold's seed, one process) on the fold's training names, then scored on the fold's held-out
names: accuracy, prior-corrected accuracy (docs/method.md) and balanced accuracy. An analysis,
not a choice: no budget is picked here (the pipeline chooses on val names only). Run after
`dvc repro prepare`; about 10 s per budget for the course LSTM here. A budget at which the
cell blows up stops with the training stage's one-line error.
"""
import argparse
from pathlib import Path

import torch

from surnames import dvc_yaml, grid, score, train
from surnames.data import fold_name, predict_log_probs, read_categories, read_encoded
from surnames.errors import Parser, ProjectError, cli
from surnames.ladder import RUNGS
from surnames.params import read_params
from surnames.scores import score_log_probs


def budget(text: str) -> tuple[float, int]:
    try:
        lr, steps = text.split("x")
        return float(lr), int(steps)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LRxSTEPS, e.g. 0.003x500") from None


def check(cell: str, budgets: list[tuple[float, int]], fold: int, prepared: Path) -> list[dict]:
    categories = read_categories(prepared)
    split = read_encoded(Path(prepared) / fold_name(fold), ("train", "val", "test"), categories)
    section = grid.cell_training(cell, read_params())
    offsets = score.prior_offsets(split["train"].targets, len(categories), score.prior_power(cell, section))
    rows = []
    for lr, steps in budgets:
        params = {**section, "lr": lr, "iterations": steps, "eval_every": steps, "seed": section["seed"] + fold}
        model, *_ = train.train(cell, params, split["train"], split["val"], f" fold {fold}")
        model.eval()
        with torch.no_grad():
            log_probs = predict_log_probs(model, split["test"])
        scores = score_log_probs(log_probs, split["test"].targets)
        corrected = float(((log_probs + offsets).argmax(1) == split["test"].targets).double().mean())
        rows.append({"optimizer": section["optimizer"], "lr": lr, "steps": steps, "accuracy": scores["accuracy"],
                     "corrected_accuracy": corrected, "balanced_accuracy": scores["balanced_accuracy"]})
    return rows


@cli
def main(argv):
    parser = Parser(prog="python -m tools.budget_check", description=__doc__.splitlines()[0])
    parser.add_argument("cell", choices=RUNGS)
    parser.add_argument("budgets", nargs="+", type=budget, help="LRxSTEPS, e.g. 0.003x500 0.01x500")
    parser.add_argument("--fold", type=int, default=0)
    args = parser.parse_args(argv)
    (prepared,) = set(dvc_yaml.outs("prepare")) & set(dvc_yaml.deps("train_rnn"))
    if not (Path(prepared) / fold_name(args.fold)).is_dir():
        raise ProjectError(f"no {Path(prepared) / fold_name(args.fold)}: run 'dvc repro prepare' first")
    print(f"{args.cell}, fold {args.fold}, held-out names: accuracy / prior-corrected accuracy / balanced accuracy")
    for row in check(args.cell, args.budgets, args.fold, Path(prepared)):
        print(f"  {row['optimizer']} lr {row['lr']:g} x {row['steps']} steps: {100 * row['accuracy']:.1f} % / "
              f"{100 * row['corrected_accuracy']:.1f} % / {100 * row['balanced_accuracy']:.1f} %", flush=True)


if __name__ == "__main__":
    main()
