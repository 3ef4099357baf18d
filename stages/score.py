"""score@<cell>, score_baseline, score_majority: one model's metrics, plot data and per-name
predictions (surnames/score.py).

    python -m stages.score MODEL PREPARED [--models DIR] --metrics FILE --predictions FILE
        [--confusion FILE --length FILE --gradients FILE]          (paths from dvc.yaml)

MODEL is a course cell of surnames/registry.yaml (rnn or lstm: give the three plot files),
baseline, or majority (no --models folder). Params: the `evaluate` section of params.yaml, and
the model's training section for the prior correction (`train_<model>` or `baseline`).
"""
from pathlib import Path

from stages import finish
from surnames import cells
from surnames.errors import Parser, cli
from surnames.ladder import COURSE
from surnames.memory import keep_freed_memory
from surnames.params import load_params
from surnames.score import SCORED, Paths, run, training_section


@cli
def main(argv):
    parser = Parser(prog="python -m stages.score", description=__doc__.splitlines()[0])
    # the ladder's other cells have no train_<cell> section: their ladder@ stages score them
    parser.add_argument("model", choices=[m for m in SCORED if m in COURSE or m not in cells.CELLS],
                        help="the model to score")
    parser.add_argument("prepared", type=Path, help="the prepared data folder (fold-<i>/ folders)")
    parser.add_argument("--models", type=Path, help="the model's folder of fold-<i>.pt files")
    parser.add_argument("--metrics", type=Path, required=True, help="where to write its metrics (JSON)")
    parser.add_argument("--predictions", type=Path, required=True, help="where to write its per-name predictions")
    for kind in ("confusion", "length", "gradients"):
        parser.add_argument(f"--{kind}", type=Path, help=f"where to write a cell's {kind} plot data (CSV)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # process set-up: freed buffers are reused, not faulted in again
    paths = Paths(args.metrics, args.predictions, args.confusion, args.length, args.gradients)
    section = training_section(args.model)
    metrics = run(args.model, load_params("evaluate"), args.prepared, args.models, paths,
                  load_params(section) if section else None)
    train, test = metrics["train"]["balanced_accuracy"], metrics["test"]["balanced_accuracy"]
    print(f"scored {args.model} (folds {metrics['folds']}): balanced accuracy, train {train['value']:.3f}, "
          f"test {test['value']:.3f} [{test['low']:.3f}, {test['high']:.3f}]")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
