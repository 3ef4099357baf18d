"""matched: the ladder's steps at every lr and own best, and their verdicts (surnames/matched.py).

    python -m stages.matched PREPARED METRICS_DIR PREDICTIONS_DIR LADDER MATCHED ANSWER PLOTS_DIR
                                                                          (paths from dvc.yaml)

Reads every ladder@<cell>-<lr> stage's metrics (METRICS_DIR/<cell>-<lr>.json) and predictions
(PREDICTIONS_DIR/<cell>-<lr>.csv). Params: `budgets.lrs` and the `evaluate` section.
"""
from pathlib import Path

from stages import finish
from surnames.errors import Parser, cli
from surnames.matched import run
from surnames.memory import keep_freed_memory
from surnames.params import read_params


@cli
def main(argv):
    parser = Parser(prog="python -m stages.matched", description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path, help="the prepared data folder (for categories.json)")
    parser.add_argument("metrics", type=Path, help="the ladder stages' metrics, <cell>-<lr>.json")
    parser.add_argument("predictions", type=Path, help="the ladder stages' predictions, <cell>-<lr>.csv")
    parser.add_argument("ladder", type=Path, help="where to write the verdicts (JSON)")
    parser.add_argument("matched", type=Path, help="where to write every point's scores, own best, length, "
                                                   "gradient flow (JSON)")
    parser.add_argument("answer", type=Path, help="where to write the forest plot's rows (CSV)")
    parser.add_argument("plots", type=Path, help="where to write <score>.csv, each cell's score by lr")
    args = parser.parse_args(argv)
    keep_freed_memory()  # process set-up: freed buffers are reused, not faulted in again
    params = read_params()
    result = run(params["evaluate"], params["budgets"]["lrs"], args.prepared, args.metrics, args.predictions,
                 args.ladder, args.matched, args.answer, args.plots)
    held = ", ".join(f"{h['step']} ({h['direction']})" for h in result["holds"]) or "none"
    print(f"matched: {len(result['verdicts'])} verdicts; steps that hold in every view on both claim scores: {held}")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
