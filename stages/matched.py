"""matched: the ablation ladder at every matched budget and at each rung's own best (surnames/matched.py).

    python -m stages.matched PREPARED SUMMARIES_DIR PREDICTIONS_DIR MATCHED PLOTS_DIR   (paths from dvc.yaml)

Reads every budget@<lr> stage's summary (SUMMARIES_DIR/<lr>.json) and predictions
(PREDICTIONS_DIR/<lr>/<cell>.csv). Params: `budgets.lrs` and the `evaluate` section.
"""
from pathlib import Path

from stages import finish
from surnames.errors import Parser, cli
from surnames.ladder import OWN_BEST
from surnames.matched import run
from surnames.memory import keep_freed_memory
from surnames.params import read_params


@cli
def main(argv):
    parser = Parser(prog="python -m stages.matched", description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path, help="the prepared data folder (for categories.json)")
    parser.add_argument("summaries", type=Path, help="the budget stages' summaries, <lr>.json")
    parser.add_argument("predictions", type=Path, help="the budget stages' predictions, <lr>/<cell>.csv")
    parser.add_argument("matched", type=Path, help="where to write the views' comparisons (JSON)")
    parser.add_argument("plots", type=Path, help="where to write <score>.csv, each rung's score by lr")
    args = parser.parse_args(argv)
    keep_freed_memory()  # process set-up: freed buffers are reused, not faulted in again
    params = read_params()
    result = run(params["evaluate"], params["budgets"]["lrs"], args.prepared, args.summaries, args.predictions,
                 args.matched, args.plots)
    gating = [e for e in result["ladders"] if (e["model"], e["against"], e["score"]) ==
              ("lstm", "wide_tanh_rnn", "corrected_accuracy")]
    print("matched: gating, held-out prior-corrected accuracy " + "; ".join(
        f"{e['view']} {100 * e['difference']:+.1f} [{100 * e['low']:+.1f}, {100 * e['high']:+.1f}]" for e in gating)
        + f" ({OWN_BEST}: each rung at its best val budget)")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
