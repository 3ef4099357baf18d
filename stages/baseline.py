"""baseline: the character n-gram baseline, one model per fold (surnames/baseline.py does the work).

    python -m stages.baseline PREPARED MODELS_DIR     (paths from dvc.yaml)
    python -m stages.baseline PREPARED --choose       the candidates' fold-0 val scores

Params: the `baseline` section of params.yaml.
"""
from pathlib import Path

from stages import finish
from surnames.baseline import choose, run
from surnames.errors import Parser, cli
from surnames.params import load_params


@cli
def main(argv):
    parser = Parser(prog="python -m stages.baseline", description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path, help="the prepared data folder (fold-<i>/ folders)")
    parser.add_argument("models_dir", type=Path, nargs="?", help="where to write fold-<i>.pt")
    parser.add_argument("--choose", action="store_true", help="print the candidates' fold-0 val scores instead")
    args = parser.parse_args(argv)
    params = load_params("baseline")
    if args.choose:
        best = max(choose(params, args.prepared), key=lambda row: row["balanced_accuracy"])
        print(f"best by val balanced accuracy: ngram_range {best['ngram_range']}, C {best['C']}, "
              f"class_weight {best['class_weight']}")
    elif args.models_dir is None:
        parser.error("give MODELS_DIR (or --choose)")
    else:
        run(params, args.prepared, args.models_dir)


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
