r"""predict: the languages a trained model gives a surname, top-K with probabilities.

    python -m surnames.predict [--model CELL|baseline] [--model-path PATH] [--prior data|uniform] [--top K]
                               [--json] NAME ...
    echo Nguyen | python -m surnames.predict        # names from stdin, one per line
    surnames-predict ...                            # the same, where the package is pip-installed

The prediction averages the probabilities of the cell's fold models (an ensemble): the
folder of fold-<i>.pt files that dvc.yaml's training stage writes (train_<cell>, baseline), unless
--model-path names another folder or one model file (an ablation cell, trained only in the
ladder's grid, needs --model-path models/ladder/<cell>-<lr>). Every name of the data set was seen
(as a train or val name) by all but one fold model, so this average has no honest held-out
figure.

Which prior over languages the probabilities assume (--prior):
  data     (the default) the languages as often as among the training names (Russian is
           about half of them): the prior of names drawn like the data set's, under which
           held-out names score best (the report's prior-corrected accuracy is above its raw
           accuracy).
  uniform  every language equally likely before the name is read: what the cells' balanced
           training draw gives their raw outputs; rare languages rank higher than under data.
Each fold model's log-probabilities are moved to that prior (its file records its training
names per language and how often training divided their frequencies out, prior_power: the
model assumes a prior proportional to frequency ** (1 - prior_power)) and renormalised before
the fold models are averaged. A language with no training names is never predicted.

Names are transliterated exactly as in training. A name is refused, with a one-line error of its
own on stderr while the others are still predicted, when it has no usable letters, more
than 64 letters after transliteration (MAX_LETTERS; the longest name in the data has 19) or more
than 1024 characters (MAX_CHARS; a stdin line is read up to 4100 bytes, the rest skipped).
Names are read, predicted and written in blocks, so memory does not grow with their number.

stdin is read as UTF-8, undecodable bytes becoming U+FFFD. Output: one line per predicted
name, NAME<TAB>LANGUAGE P, ..., in input order, with backslashes and unprintable characters
of the name (tab, newline, NUL, ESC, ...) escaped as in a Python string (\t, \n, \x00,
\x1b, \\); when stderr is a terminal, one line there first names the prior. With --json one
JSON array in input order, ASCII only, a predicted name's entry holding "prior" and
"predictions", a refused name's entry "error" instead.

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

from surnames import cells, dvc_yaml, ladder, model_file, tfidf
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
PRIORS = ("data", "uniform")
DEFAULT_PRIOR = "data"  # held-out names score best under it (the report's prior-corrected accuracy)
PRIOR_WORDS = {"data": "the training names' language frequencies",
               "uniform": "every language equally likely"}


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
LADDER_GRID = Path("models/ladder")  # where a cell without a training stage has its models, one folder per lr


def trained_models(model: str, dvc_file: Path = dvc_yaml.DVC_YAML) -> Path:
    """The folder of fold models that dvc.yaml's stage training `model` writes: its one cached out.
    A cell without such a stage (an ablation cell, trained only in the ladder's grid, for which
    dvc_yaml.training_stage raises, or names a stage dvc.yaml lacks): one line saying which
    --model-path to pass."""
    try:
        stage = dvc_yaml.training_stage(model)
    except ProjectError:
        stage = None
    if stage is None or (model not in (*ladder.COURSE, "baseline") and stage not in dvc_yaml.stage_names(dvc_file)):
        trained = sorted(str(folder) for folder in (dvc_file.parent / LADDER_GRID).glob(f"{model}-*")
                         if folder.is_dir())
        example = f" (here: {', '.join(trained)})" if trained else ""
        raise ProjectError(f"no stage of {dvc_file} trains {model} on its own: it is trained only in the ladder's "
                           f"grid; pass --model-path {LADDER_GRID}/{model}-<lr>{example}")
    (path,) = dvc_yaml.cached_outs(stage, dvc_file)
    return Path(path)


def prior_offsets(train_counts: list[int], power: int, prior: str) -> torch.Tensor:
    """What to add to a model's log-probabilities [languages] to move them to `prior`, before
    renormalising. Its outputs assume a prior proportional to frequency ** (1 - power) (the
    frequencies of `train_counts`); prior pi needs log pi - (1 - power) * log frequency: power *
    log frequency for the data's prior, (power - 1) * log frequency for a uniform one (log 1/K is
    the same for every language, so renormalising removes it). A language with no training names
    gets -inf: never predicted (its correction, a multiple of log 0, is undefined)."""
    if prior not in PRIORS:
        raise ProjectError(f"unknown prior {prior!r}: expected one of {', '.join(PRIORS)}")
    counts = torch.tensor(train_counts, dtype=torch.float64)
    log_frequency = (counts / counts.sum()).log()
    factor = power if prior == "data" else power - 1
    return torch.where(counts > 0, factor * log_frequency, -torch.inf).float()  # no 0 * -inf = NaN


def under_prior(predictor, offsets: torch.Tensor):
    """A predictor's log-probabilities moved by `offsets` (prior_offsets), renormalised."""
    return lambda names: torch.log_softmax(predictor(names) + offsets, dim=1)


def load_predictor(path: Path):
    """(model name, a function of transliterated names -> log-probabilities, languages, payload) of one
    model file; the log-probabilities are the model's own, under the prior its training gave it."""
    payload = model_file.read_payload(path, {"model"})  # read once: its "model" says which loader checks it
    if payload["model"] == "baseline":
        baseline = tfidf.load(path, payload=payload)
        return "baseline", baseline.log_probs, baseline.categories, payload
    name, cell, categories = model_file.load(path, payload=payload)
    return name, lambda names: cell(*encode(names)), categories, payload


def load_ensemble(path: Path, model: str, prior: str = DEFAULT_PRIOR) -> tuple[list, list[str]]:
    """(the fold models of `model` in a folder, or the one in a file, as predictors whose
    log-probabilities are under `prior` (PRIORS); their languages)."""
    files = sorted(path.glob("fold-*.pt")) if path.is_dir() else [path]
    if not files:
        raise ProjectError(f"no fold-<i>.pt model files in {path}; run 'dvc repro' first")
    predictors, languages = [], set()
    for file in files:
        name, predictor, categories, payload = load_predictor(file)
        if name != model:
            raise ProjectError(f"{file} holds a {name} model, not {model}; pass --model {name} or another path")
        counts, power = model_file.read_prior(file, payload, len(categories))
        predictors.append(under_prior(predictor, prior_offsets(counts, power, prior)))
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
    parser.add_argument("--prior", choices=PRIORS, default=DEFAULT_PRIOR,
                        help="the prior over languages the probabilities assume (default: data, under which "
                             "held-out names score best). data: the languages as often as among the training "
                             "names; uniform: every language equally likely, as the balanced training draw "
                             "gives the cells' raw outputs")
    parser.add_argument("--top", type=int, default=3, help="how many languages to show (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON array (ASCII)")
    args = parser.parse_args(argv)
    if args.top < 1:
        raise ProjectError(f"--top must be at least 1, got {args.top}")
    cells, categories = load_ensemble(args.model_path or trained_models(args.model), args.model, args.prior)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")  # a non-UTF-8 terminal: escapes, not a traceback
    if not args.json and sys.stderr.isatty():  # a person reading, not a script: say it once, outside the TSV
        print(f"prior: {PRIOR_WORDS[args.prior]} (--prior {args.prior}; see --help)", file=sys.stderr)
    names, count, refused = read_names(args.names), 0, 0
    while block := list(itertools.islice(names, BLOCK)):  # results are written as they come: memory stays flat
        for r in predict(cells, categories, block, args.top):
            if "predictions" in r:  # the prior before the list it qualifies
                r = {"name": r["name"], "transliterated": r["transliterated"], "prior": args.prior,
                     "predictions": r["predictions"]}
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
