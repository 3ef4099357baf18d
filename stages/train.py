"""train_rnn, train_lstm: a course cell, one model per fold (surnames/train.py does the work;
the ladder's cells are trained by stages/ladder.py).

    python -m stages.train MODEL PREPARED MODELS_DIR CURVES_DIR SUMMARY   (paths from dvc.yaml)

Params: the `train_<model>` section of params.yaml.
"""
from pathlib import Path

from stages import finish
from surnames.errors import Parser, ProjectError, cli
from surnames.ladder import COURSE
from surnames.memory import keep_freed_memory
from surnames.params import load_params
from surnames.workers import start_fork_server


@cli
def main(argv):
    parser = Parser(prog="python -m stages.train", description=__doc__.splitlines()[0])
    parser.add_argument("model", help=" or ".join(COURSE))
    parser.add_argument("prepared", type=Path, help="the prepared data folder")
    parser.add_argument("models_dir", type=Path, help="where to write fold-<i>.pt, one model per fold")
    parser.add_argument("curves_dir", type=Path, help="where to write fold-<i>.csv, training curves per fold")
    parser.add_argument("summary", type=Path, help="where to write the training summary (JSON)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # process set-up: freed buffers are reused, not faulted in again
    if args.model in COURSE:  # an unknown model is reported below, in the stage's own words
        start_fork_server(f"train_{args.model}", ("surnames.train",))
    from surnames.train import run  # torch: imported only now, beside the fork server's imports
    if args.model not in COURSE:
        raise ProjectError(f"unknown model {args.model!r}: expected a course cell, {' or '.join(COURSE)} (the ladder's "
                           "other cells are trained by the ladder@<cell>-<lr> stages)")
    section = f"train_{args.model}"
    summary = run(args.model, load_params(section), args.prepared, args.models_dir, args.curves_dir, args.summary)
    print(f"{section}: {len(summary['folds'])} folds, mean val balanced accuracy of the kept checkpoints "
          f"{summary['kept_mean']['val_balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
