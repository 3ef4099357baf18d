"""evaluate: the paired comparisons of the scored models (surnames/evaluate.py).

    python -m stages.evaluate PREPARED --pair FIRST.csv SECOND.csv [--baseline BASELINE.csv]
        --compare FILE                                               (paths from dvc.yaml)

Reads the scoring stages' per-name predictions and writes SECOND − FIRST (LSTM − RNN) and
each of the pair − the n-gram baseline, with paired 95 % intervals. Params: the `evaluate`
section of params.yaml.
"""
from pathlib import Path

from stages import finish
from surnames.errors import Parser, cli
from surnames.evaluate import run
from surnames.memory import keep_freed_memory
from surnames.params import load_params


@cli
def main(argv):
    parser = Parser(prog="python -m stages.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path, help="the prepared data folder (for categories.json)")
    parser.add_argument("--pair", type=Path, nargs=2, required=True, help="the two cells' predictions files")
    parser.add_argument("--baseline", type=Path, help="the n-gram baseline's predictions file")
    parser.add_argument("--compare", type=Path, required=True, help="where to write the comparison (JSON)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # process set-up: freed buffers are reused, not faulted in again
    result = run(load_params("evaluate"), args.prepared, args.pair, args.baseline, args.compare)
    first, second = (path.stem for path in args.pair)
    ba = result["test"]["balanced_accuracy"]
    print(f"evaluate: {second} - {first} held-out balanced accuracy {ba['difference']:+.3f} "
          f"[{ba['low']:+.3f}, {ba['high']:+.3f}] (folds {result['folds']})")


if __name__ == "__main__":
    main()
    finish()  # only once main has returned: a failure exits through errors.cli as before
