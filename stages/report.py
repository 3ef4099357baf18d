"""report: report.md, answer.md and the PNG figures from the metrics and plot files (surnames/report.py).

    python -m stages.report --data-stats FILE --metrics FILE... --compare FILE --references FILE...
        --ladder FILE --matched FILE --rechecks DIR --curves DIR --confusion DIR --out DIR
                                                                        (paths from dvc.yaml)
    python -m stages.report --summary      # the headline table, paths read from dvc.yaml

Params: the `report` section of params.yaml; the course cells' training sections, `budgets`,
`baseline` and `evaluate` for the setup and the method text.
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen: chosen before pyplot loads (in surnames.report)

from stages import finish
from surnames import dvc_yaml  # noqa: E402
from surnames.errors import Parser, cli  # noqa: E402
from surnames.params import read_params  # noqa: E402
from surnames.report import read_json, read_metrics, summary, write_report  # noqa: E402

INPUTS = ("data_stats", "metrics", "compare", "references", "ladder", "matched", "rechecks", "curves", "confusion",
          "out")


def parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m stages.report", description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true",
                        help="print the headline table instead (paths from dvc.yaml's report stage)")
    parser.add_argument("--data-stats", type=Path, help="the prepare stage's data counts (JSON)")
    parser.add_argument("--metrics", type=Path, nargs="+", help="the course cells' <cell>.json")
    parser.add_argument("--compare", type=Path, help="the course pair's paired comparison (JSON)")
    parser.add_argument("--references", type=Path, nargs="*", help="reference rows: baseline.json, majority.json")
    parser.add_argument("--ladder", type=Path, help="the ladder's verdicts (the matched stage's JSON)")
    parser.add_argument("--matched", type=Path, help="every grid point's scores, own best, length, gradients (JSON)")
    parser.add_argument("--rechecks", type=Path, help="folder of the ladder's re-checks (tools/recheck.py)")
    parser.add_argument("--curves", type=Path, help="folder of <model>/fold-<i>.csv training curves")
    parser.add_argument("--confusion", type=Path, help="folder of <model>.csv confusion rows")
    parser.add_argument("--out", type=Path, help="the report folder")
    return parser


@cli
def main(argv):
    args = parser().parse_args(argv)
    if args.summary and not args.metrics:
        args = parser().parse_args(dvc_yaml.module_args("report") + argv)
    missing = [name for name in INPUTS if getattr(args, name) is None]
    if missing:
        parser().error(f"missing --{missing[0].replace('_', '-')}")
    if args.summary:
        references = {Path(path).stem: read_json(path) for path in args.references}
        print(summary({**read_metrics(args.metrics), **references}, args.out))
        return
    text = write_report(read_params(), {name: getattr(args, name) for name in INPUTS}, args.out)
    print(f"report: {args.out / 'report.md'} with {text.count('](')} figures")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
