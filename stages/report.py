"""report: report.md and its PNG figures from the metrics and plot files (surnames/report.py).

    python -m stages.report --data-stats FILE --metrics FILE... --compare FILE [--references FILE...]
        [--ladder FILE... --ladder-plot FILE --matched FILE] --curves DIR --confusion DIR --length DIR --gradients DIR
        --out DIR                                                       (paths from dvc.yaml)
    python -m stages.report --summary      # the headline table, paths read from dvc.yaml

Params: the `report` section of params.yaml; the training and baseline sections and
evaluate.bootstrap_draws for the setup table and the method text.
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen: chosen before pyplot loads (in surnames.report)

from stages import finish
from surnames import dvc_yaml  # noqa: E402
from surnames.errors import Parser, cli  # noqa: E402
from surnames.params import read_params  # noqa: E402
from surnames.report import PLOT_KINDS, read_json, read_metrics, summary, write_report  # noqa: E402


def parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m stages.report", description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true",
                        help="print the headline table instead (paths from dvc.yaml's report stage)")
    parser.add_argument("--data-stats", type=Path, help="the prepare stage's data counts (JSON)")
    parser.add_argument("--metrics", type=Path, nargs="+", help="one <model>.json per model")
    parser.add_argument("--compare", type=Path, help="the paired comparison (JSON)")
    parser.add_argument("--references", type=Path, nargs="*", default=[],
                        help="reference rows: baseline.json, majority.json")
    parser.add_argument("--ladder", type=Path, nargs="*", default=[],
                        help="the ablation cells' <cell>.json (the ladder's ends are the --metrics pair)")
    parser.add_argument("--ladder-plot", type=Path, help="where to write the ladder figure's data (CSV)")
    parser.add_argument("--matched", type=Path, help="the ladder at every matched budget (the matched stage's JSON)")
    parser.add_argument("--curves", type=Path, help="folder of <model>/fold-<i>.csv training curves")
    for kind in PLOT_KINDS[1:]:
        parser.add_argument(f"--{kind}", type=Path, help=f"folder of <model>.csv {kind} plot data")
    parser.add_argument("--out", type=Path, help="the report folder")
    return parser


@cli
def main(argv):
    args = parser().parse_args(argv)
    if args.summary and not args.metrics:
        args = parser().parse_args(dvc_yaml.module_args("report") + argv)
    missing = [name for name, value in vars(args).items() if value is None and name not in ("ladder_plot", "matched")]
    if missing:
        parser().error(f"missing --{missing[0].replace('_', '-')}")
    if args.summary:
        references = {Path(path).stem: read_json(path) for path in args.references}
        rungs = {Path(path).stem: read_json(path) for path in args.ladder}
        print(summary({**read_metrics(args.metrics), **references}, args.out, rungs))
        return
    plot_dirs = {kind: getattr(args, kind) for kind in PLOT_KINDS}
    all_params = read_params()
    text = write_report(all_params, args.data_stats, args.metrics, args.compare, plot_dirs, args.out,
                        args.references, args.ladder, args.ladder_plot, args.matched)
    print(f"report: {args.out / 'report.md'} with {text.count('](')} figures")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
