"""predict: the languages a trained cell gives a surname, top-K with probabilities.

    python -m stages.predict [--model lstm|rnn|baseline] [--model-path PATH] [--top K] [--json] NAME ...
    echo Nguyen | python -m stages.predict        # names from stdin, one per line

The prediction averages the probabilities of the cell's fold models (an ensemble): the
folder of fold-<i>.pt files that dvc.yaml's `train_<model>` stage writes, unless
--model-path names another folder or one model file. Every name of the data set was in the
training names of all but one fold model, so this average has no honest held-out figure.

Names are folded exactly as in training. A name with no usable letters gets a one-line
error for itself while the others are still predicted; the exit status is then 1.
"""
import argparse
import json
import sys
from pathlib import Path

import torch

from stages import dvc_yaml, model_file, models, tfidf
from stages.alphabet import ALPHABET, encode, fold
from stages.errors import ProjectError, cli


def predict(predictors: list, categories: list[str], names: list[str], top: int) -> list[dict]:
    """For each name: {"name", "folded", "predictions": [{language, probability}]} or {"name", "error"},
    from the mean of the predictors' probabilities (each a function of folded names)."""
    results = [{"name": name, "folded": fold(name)} for name in names]
    usable = [r for r in results if r["folded"]]
    for r in results:
        if not r["folded"]:
            r["error"] = f"{r['name']!r} has no usable letters (the model reads only {ALPHABET!r})"
    if usable:
        with torch.no_grad():
            folded = [r["folded"] for r in usable]
            probabilities = torch.stack([predictor(folded).exp() for predictor in predictors]).mean(0)
        values, indices = probabilities.topk(min(top, len(categories)), dim=1)
        for r, row_values, row_indices in zip(usable, values.tolist(), indices.tolist()):
            r["predictions"] = [{"language": categories[i], "probability": round(p, 4)}
                                for p, i in zip(row_values, row_indices)]
    return results


MODELS = (*models.CELLS, "baseline")


def trained_models(model: str, dvc_file: Path = dvc_yaml.DVC_YAML) -> Path:
    """The folder of fold models that dvc.yaml's train_<model> (or baseline) stage writes: its
    one cached out."""
    (path,) = dvc_yaml.cached_outs("baseline" if model == "baseline" else f"train_{model}", dvc_file)
    return Path(path)


def load_predictor(path: Path):
    """(model name, a function of folded names -> log-probabilities, languages) of one model file."""
    if model_file.read_payload(path, {"model"})["model"] == "baseline":
        baseline = tfidf.load(path)
        return "baseline", baseline.log_probs, baseline.categories
    name, cell, categories = model_file.load(path)
    return name, lambda names: cell(*encode(names)), categories


def load_cells(path: Path, model: str) -> tuple[list, list[str]]:
    """(the fold models of `model` in a folder, or the one in a file, as predictors; their languages)."""
    files = sorted(path.glob("fold-*.pt")) if path.is_dir() else [path]
    if not files:
        raise ProjectError(f"no fold-<i>.pt model files in {path}; run 'dvc repro' first")
    predictors, languages = [], set()
    for file in files:
        name, predictor, categories = load_predictor(file)
        if name != model:
            raise ProjectError(f"{file} holds a {name} model, not {model}; pass --model {name} or another path")
        predictors.append(predictor)
        languages.add(tuple(categories))
    if len(languages) != 1:
        raise ProjectError(f"the model files in {path} were trained on different languages; re-run 'dvc repro'")
    return predictors, list(languages.pop())


def read_names(argv_names: list[str]) -> list[str]:
    if argv_names:
        return argv_names
    return [line.rstrip("\r\n") for line in sys.stdin if line.strip()]


@cli
def main(argv):
    parser = argparse.ArgumentParser(prog="python -m stages.predict", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="surnames (default: one per line on stdin)")
    parser.add_argument("--model", choices=MODELS, default="lstm")
    parser.add_argument("--model-path", type=Path,
                        help="a folder of fold-<i>.pt files or one model file (default: the train_<model> stage's)")
    parser.add_argument("--top", type=int, default=3, help="how many languages to show (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.top < 1:
        raise ProjectError(f"--top must be at least 1, got {args.top}")
    cells, categories = load_cells(args.model_path or trained_models(args.model), args.model)
    names = read_names(args.names)
    if not names:
        raise ProjectError("no names given: pass them as arguments or one per line on stdin")
    results = predict(cells, categories, names, args.top)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    for r in results:
        if "error" in r:
            print(f"error: {r['error']}", file=sys.stderr)
        elif not args.json:
            shown = ", ".join(f"{p['language']} {p['probability']:.2f}" for p in r["predictions"])
            print(f"{r['name']}\t{shown}")
    if any("error" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
