"""budget@<lr>: every rung of the ablation ladder trained alike at one lr (surnames/budgets.py).

    python -m stages.budget LR PREPARED MODELS_DIR PREDICTIONS_DIR SUMMARY   (paths from dvc.yaml)

Params: the `budgets` section of params.yaml (LR is one of its `lrs`), and each rung's
`train_<cell>.hidden_size`.
"""
from pathlib import Path

from stages import finish
from surnames.errors import Parser, ProjectError, cli
from surnames.ladder import RUNGS
from surnames.memory import keep_freed_memory
from surnames.params import read_params
from surnames.workers import start_fork_server


@cli
def main(argv):
    parser = Parser(prog="python -m stages.budget", description=__doc__.splitlines()[0])
    parser.add_argument("lr", type=float, help="the learning rate: one of budgets.lrs")
    parser.add_argument("prepared", type=Path, help="the prepared data folder")
    parser.add_argument("models_dir", type=Path, help="where to write <cell>/fold-<i>.pt for every rung")
    parser.add_argument("predictions_dir", type=Path, help="where to write <cell>.csv, every rung's predictions")
    parser.add_argument("summary", type=Path, help="where to write what each rung was trained with (JSON)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # process set-up: freed buffers are reused, not faulted in again
    start_fork_server("budgets", ("surnames.budgets",))
    from surnames.budgets import run  # torch: imported only now, beside the fork server's imports
    params = read_params()
    if args.lr not in params["budgets"]["lrs"]:
        raise ProjectError(f"lr {args.lr:g} is not one of budgets.lrs {params['budgets']['lrs']}; "
                           "dvc.yaml's budget stages run one per lr")
    hidden_sizes = {cell: params[f"train_{cell}"]["hidden_size"] for cell in RUNGS}
    result = run(args.lr, params["budgets"], hidden_sizes, args.prepared, args.models_dir, args.predictions_dir,
                 args.summary)
    print(f"budget lr {args.lr:g}: " + ", ".join(
        f"{c['cell']} val balanced {c['val_balanced_accuracy']:.3f}" if "diverged" not in c else f"{c['cell']} blew up"
        for c in result["cells"]))


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
