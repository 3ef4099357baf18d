"""ladder@<cell>-<lr>: one cell of the registry trained alike with every other at one lr, then
scored (surnames/grid.py).

    python -m stages.ladder CELL LR PREPARED MODELS_DIR PREDICTIONS METRICS   (paths from dvc.yaml)

Params: the `budgets` section of params.yaml (LR is one of its `lrs`; the cell's hidden size
is `budgets.hidden_size.<cell>`), and the `evaluate` section for scoring.
"""
from pathlib import Path

from stages import finish
from surnames.errors import Parser, cli
from surnames.ladder import RUNGS
from surnames.memory import keep_freed_memory
from surnames.params import read_params
from surnames.workers import start_fork_server


@cli
def main(argv):
    parser = Parser(prog="python -m stages.ladder", description=__doc__.splitlines()[0])
    parser.add_argument("cell", choices=RUNGS, help="a cell of surnames/registry.yaml")
    parser.add_argument("lr", type=float, help="the learning rate: one of budgets.lrs")
    parser.add_argument("prepared", type=Path, help="the prepared data folder")
    parser.add_argument("models_dir", type=Path, help="where to write fold-<i>.pt")
    parser.add_argument("predictions", type=Path, help="where to write its per-name predictions (CSV)")
    parser.add_argument("metrics", type=Path, help="where to write what it was trained with and its scores (JSON)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # process set-up: freed buffers are reused, not faulted in again
    start_fork_server("budgets", ("surnames.grid",))
    from surnames.grid import point_name, run  # torch: imported only now, beside the fork server's imports
    params = read_params()
    metrics = run(args.cell, args.lr, params["budgets"], params["evaluate"], args.prepared, args.models_dir,
                  args.predictions, args.metrics)
    name = f"ladder@{point_name(args.cell, args.lr)}"
    if "diverged" in metrics:
        print(f"{name}: blew up on fold {metrics['diverged'][0]['fold']} at step {metrics['diverged'][0]['step']}")
    else:
        test = metrics["test"]["balanced_accuracy"]
        print(f"{name}: held-out balanced accuracy {test['value']:.3f} [{test['low']:.3f}, {test['high']:.3f}]")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
