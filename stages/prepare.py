"""prepare: verified raw names -> transliterated, deduplicated, split into k folds by distinct
name (surnames/prepare.py does the work).

    python -m stages.prepare MANIFEST RAW_DIR PREPARED_DIR STATS [--lines FILE]   (paths from dvc.yaml)

Raw data comes from $NAMES_DATA_DIR when set, else from the official zip (prepare.url).
Params: the `prepare` section of params.yaml.
"""
from pathlib import Path

from stages import finish
from surnames.errors import Parser, cli
from surnames.params import load_params
from surnames.prepare import prepare


@cli
def main(argv):
    parser = Parser(prog="python -m stages.prepare", description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="sha256sum listing of the raw files")
    parser.add_argument("raw", type=Path, help="where to keep the verified raw files")
    parser.add_argument("prepared", type=Path, help="where to write the prepared splits")
    parser.add_argument("stats", type=Path, help="where to write the data counts (JSON)")
    parser.add_argument("--lines", type=Path, help="`wc -l` listing of the raw files, for error messages")
    args = parser.parse_args(argv)
    stats = prepare(load_params("prepare"), args.manifest, args.raw, args.prepared, args.stats, args.lines)
    sizes = ", ".join(str(fold["test"]["rows"]) for fold in stats["per_fold"])
    print(f"prepare: {stats['rows_after_dedup']} (name, language) rows, {stats['distinct_names']} names "
          f"-> {stats['folds']} folds of {sizes} test rows")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
