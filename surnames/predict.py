r"""predict: the languages a trained model gives a surname, top-K with probabilities.

    python -m surnames.predict [--model CELL|baseline] [--model-path PATH] [--top K] [--json] NAME ...
    echo Nguyen | python -m surnames.predict        # names from stdin, one per line
    surnames-predict ...                            # the same, where the package is pip-installed

The prediction averages the probabilities of the cell's fold models (an ensemble): the
folder of fold-<i>.pt files that dvc.yaml's training stage writes (train_<cell>, train@<cell>, baseline), unless
--model-path names another folder or one model file. Every name of the data set was seen
(as a train or val name) by all but one fold model, so this average has no honest held-out
figure.

Names are transliterated exactly as in training. A name is refused, with a one-line error of its
own on stderr while the others are still predicted, when it has no usable letters, more
than 64 letters after transliteration (MAX_LETTERS; the longest name in the data has 19) or more
than 1024 characters (MAX_CHARS; a stdin line is read up to 4100 bytes, the rest skipped).
Names are read, predicted and written in blocks, so memory does not grow with their number.

stdin is read as UTF-8, undecodable bytes becoming U+FFFD. Output: one line per predicted
name, NAME<TAB>LANGUAGE P, ..., in input order, with backslashes and unprintable characters
of the name (tab, newline, NUL, ESC, ...) escaped as in a Python string (\t, \n, \x00,
\x1b, \\); with --json one JSON array in input order, ASCII only, a refused name's entry
holding "error" instead of "predictions".

Exit status: 0 when every name was predicted; 1 when any name was refused (the others are
still printed) or on any other error (one line on stderr, nothing predicted).
"""
import argparse
import io
import itertools
import json
import sys
from pathlib import Path

import torch

from surnames import cells, dvc_yaml, model_file, tfidf
from surnames.alphabet import ALPHABET, encode, transliterate
from surnames.errors import Parser, ProjectError, cli

MAX_LETTERS = 64  # letters after transliteration; longer names are refused, never padded into a batch
MAX_CHARS = 1024  # characters before transliteration
MAX_LINE_BYTES = 4 * (MAX_CHARS + 1)  # a UTF-8 character has at most 4 bytes: a cut line is over MAX_CHARS
BLOCK = 4096  # names read, predicted and written at a time
# Letters in one forward pass: the LSTM keeps about 13 x hidden floats per letter (~110 MB here).
# Batches are consecutive names, unsorted: the cells pack letters (no work on padding), and the
# padded index tensor is at most MAX_LETTERS x batch.
BATCH_LETTERS = 16384


def refusal(name: str, transliterated: str) -> str | None:
    """Why a name cannot be predicted, or None."""
    shown = repr(name) if len(name) <= 40 else f"{name[:40]!r}..."
    if len(name) > MAX_CHARS:
        return f"{shown} is longer than {MAX_CHARS} characters, the limit for a name"
    if not transliterated:
        return f"{shown} has no usable letters (the model reads only {ALPHABET!r})"
    if len(transliterated) > MAX_LETTERS:
        return f"{shown} has {len(transliterated)} letters after transliteration, over the limit of {MAX_LETTERS}"
    return None


def batches(results: list[dict]):
    """Consecutive runs of results holding at most BATCH_LETTERS transliterated letters (or one name)."""
    batch, letters = [], 0
    for r in results:
        if batch and letters + len(r["transliterated"]) > BATCH_LETTERS:
            yield batch
            batch, letters = [], 0
        batch.append(r)
        letters += len(r["transliterated"])
    if batch:
        yield batch


def predict(predictors: list, categories: list[str], names: list[str], top: int) -> list[dict]:
    """For each name: {"name", "transliterated", "predictions": [{language, probability}]} or
    {"name", "transliterated", "error"}, from the mean of the predictors' probabilities (each a
    function of transliterated names)."""
    results = [{"name": name, "transliterated": transliterate(name)} for name in names]
    for r in results:
        if error := refusal(r["name"], r["transliterated"]):
            r["error"] = error
    for batch in batches([r for r in results if "error" not in r]):
        with torch.no_grad():
            transliterated = [r["transliterated"] for r in batch]
            probabilities = torch.stack([predictor(transliterated).exp() for predictor in predictors]).mean(0)
        values, indices = probabilities.topk(min(top, len(categories)), dim=1)
        for r, row_values, row_indices in zip(batch, values.tolist(), indices.tolist()):
            r["predictions"] = [{"language": categories[i], "probability": round(p, 4)}
                                for p, i in zip(row_values, row_indices)]
    return results


MODELS = (*cells.CELLS, "baseline")


def trained_models(model: str, dvc_file: Path = dvc_yaml.DVC_YAML) -> Path:
    """The folder of fold models that dvc.yaml's stage training `model` writes: its one cached out."""
    (path,) = dvc_yaml.cached_outs(dvc_yaml.training_stage(model), dvc_file)
    return Path(path)


def load_predictor(path: Path):
    """(model name, a function of transliterated names -> log-probabilities, languages) of one model file."""
    payload = model_file.read_payload(path, {"model"})  # read once: its "model" says which loader checks it
    if payload["model"] == "baseline":
        baseline = tfidf.load(path, payload=payload)
        return "baseline", baseline.log_probs, baseline.categories
    name, cell, categories = model_file.load(path, payload=payload)
    return name, lambda names: cell(*encode(names)), categories


def load_ensemble(path: Path, model: str) -> tuple[list, list[str]]:
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


def stdin_names():
    """The non-blank lines of stdin as UTF-8, undecodable bytes as U+FFFD; a line is read up to
    MAX_LINE_BYTES (the rest is skipped), so even a gigabyte without a newline takes no memory."""
    stream = sys.stdin.buffer
    while line := stream.readline(MAX_LINE_BYTES):
        rest = line if len(line) == MAX_LINE_BYTES else b""
        while rest and not rest.endswith(b"\n"):  # skip the rest of a cut line: the cut part is refused
            rest = stream.readline(MAX_LINE_BYTES)
        name = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if name.strip():
            yield name


def read_names(argv_names: list[str]):
    """The names to predict, lazily; argv's undecodable bytes (surrogate escapes) become U+FFFD as stdin's."""
    if argv_names:
        return (name.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for name in argv_names)
    return stdin_names()


def escape(name: str) -> str:
    """A name as one TSV field: backslashes and unprintable characters (tab, newline, NUL, ESC,
    format characters, ...) as Python string escapes, so that each name stays on one line."""
    if name.isprintable() and "\\" not in name:
        return name
    return "".join(c if c.isprintable() and c != "\\" else repr(c)[1:-1] for c in name)


@cli
def main(argv):
    command = "surnames-predict" if Path(sys.argv[0]).name == "surnames-predict" else "python -m surnames.predict"
    parser = Parser(prog=command, description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="surnames (default: one per line on stdin)")
    parser.add_argument("--model", choices=MODELS, default="lstm")
    parser.add_argument("--model-path", type=Path,
                        help="a folder of fold-<i>.pt files or one model file (default: its training stage's)")
    parser.add_argument("--top", type=int, default=3, help="how many languages to show (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON array (ASCII)")
    args = parser.parse_args(argv)
    if args.top < 1:
        raise ProjectError(f"--top must be at least 1, got {args.top}")
    cells, categories = load_ensemble(args.model_path or trained_models(args.model), args.model)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")  # a non-UTF-8 terminal: escapes, not a traceback
    names, count, refused = read_names(args.names), 0, 0
    while block := list(itertools.islice(names, BLOCK)):  # results are written as they come: memory stays flat
        for r in predict(cells, categories, block, args.top):
            if args.json:  # the same text as json.dumps(all results, indent=2), one entry at a time
                sys.stdout.write(("[\n  " if count == 0 else ",\n  ") + json.dumps(r, indent=2).replace("\n", "\n  "))
            elif "predictions" in r:
                shown = ", ".join(f"{p['language']} {p['probability']:.2f}" for p in r["predictions"])
                sys.stdout.write(f"{escape(r['name'])}\t{shown}\n")
            if "error" in r:
                refused += 1
                print(f"error: {r['error']}", file=sys.stderr)
            count += 1
    if not count:
        raise ProjectError("no names given: pass them as arguments or one per line on stdin")
    if args.json:
        sys.stdout.write("\n]\n")
    if refused:
        sys.exit(1)


if __name__ == "__main__":
    main()
