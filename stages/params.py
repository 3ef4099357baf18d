"""params: check the whole params.yaml against the schema (surnames/params.py), and every row of
surnames/registry.yaml against its class (surnames/cells.py).

    python -m stages.params [PARAMS]       check the file (one line on error, exit 1)
    python -m stages.params --describe     docs/params.md: the schema as a Markdown page
"""
import sys
from pathlib import Path

from stages import finish
from surnames import cells
from surnames.errors import Parser, cli
from surnames.params import SCHEMA, read_params, schema_page


@cli
def main(argv):
    parser = Parser(prog="python -m stages.params", description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path, nargs="?", default=Path("params.yaml"))
    parser.add_argument("--describe", action="store_true", help="print docs/params.md, the schema as Markdown")
    args = parser.parse_args(argv)
    if args.describe:
        print(schema_page(), end="")
        return
    read_params(args.params)
    cells.check_registry()  # every row's class runs and its kernel computes what the class does
    print(f"params: {args.params} checked ({sum(map(len, SCHEMA.values()))} params in {len(SCHEMA)} sections)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
