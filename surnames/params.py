"""params.yaml: reading it, and the one schema that checks and documents every param.

Every stage checks the whole file, so a typo anywhere (an unknown key or section, a NaN, a
bool where a number belongs) is refused with one line by whichever stage runs first, and
`python -m stages.params` (the `params` stage of dvc.yaml) checks it whenever it changes.

    python -m stages.params [PARAMS]            check the file (one line on error, exit 1)
    python -m stages.params --describe          docs/params.md, generated from the schema
"""
import difflib
import math
import os
from pathlib import Path

from surnames import ladder
from surnames.errors import ProjectError


def parse_yaml(text: str, path) -> object:
    """The document in `text`, read as DVC reads it (ruamel.yaml, YAML 1.2: `1e-3` is a float,
    `010` is 10, a duplicate key is an error); a syntax error is one line with line and column."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    try:
        return YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(str(error.problem or error.context).split())
        raise ProjectError(f"{where}: invalid YAML: {problem}") from None
    except YAMLError as error:
        raise ProjectError(f"{path}: invalid YAML: {' '.join(str(error).split())}") from None


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # a bool is an int to Python, not to us


def _is_number(value) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


class Field:
    """One param: `check(value, where)` returns the value or raises a one-line ProjectError."""

    def __init__(self, doc: str, expected: str, test, documented: str | None = None):
        self.doc, self.expected, self.test = doc, expected, test
        self.documented = documented or expected  # docs/params.md's text: the same on every machine

    def check(self, value, where: str):
        if not self.test(value):
            raise ProjectError(f"invalid param {where}={value!r}: expected {self.expected}")
        return value


def number(kind, doc: str, low=None, high=None, above=None) -> Field:
    """An int (kind=int) or a finite number (kind=float) in [low, high], or > above."""
    start = f"[{low}" if low is not None else f"({above}" if above is not None else None
    bounds = (f"in {start}, {high}]" if start and high is not None else f"<= {high}" if high is not None
              else f">= {low}" if low is not None else f"> {above}" if above is not None else "")
    expected = " ".join(filter(None, ["an int" if kind is int else "a finite number", bounds]))

    def test(value):
        return ((_is_int if kind is int else _is_number)(value) and (low is None or value >= low)
                and (high is None or value <= high) and (above is None or value > above))
    return Field(doc, expected, test)


def choice(doc: str, *options: str) -> Field:
    return Field(doc, f"one of {', '.join(options)}", lambda value: isinstance(value, str) and value in options)


def ints(doc: str, low: int, high: int, length=None, increasing=False) -> Field:
    """A non-empty list of ints in [low, high]: of `length` items, or strictly increasing."""
    shape = f"a list of {length} ints" if length else "a non-empty list of distinct ints"
    order = ", in increasing order" if increasing else ""

    def test(value):
        whole = isinstance(value, list) and value and all(map(_is_int, value))
        return bool(whole and all(low <= v <= high for v in value) and (len(value) == length if length else
                    len(set(value)) == len(value)) and (not increasing or value == sorted(value)))
    return Field(doc, f"{shape} in [{low}, {high}]{order}", test)


def rates(doc: str) -> Field:
    """A non-empty list of distinct finite numbers > 0, in increasing order (learning rates)."""
    return Field(doc, "a non-empty list of distinct finite numbers > 0, in increasing order",
                 lambda value: isinstance(value, list) and bool(value) and all(_is_number(v) and v > 0 for v in value)
                 and value == sorted(set(value)))


def threads(doc: str) -> Field:
    cores = available_cores()
    return Field(doc, f"auto or an int in [1, {cores}] (the cores this process may use)",
                 lambda value: value == "auto" or (_is_int(value) and 1 <= value <= cores),
                 "auto or an int from 1 to the cores this process may use")


def text(doc: str) -> Field:
    return Field(doc, "a non-empty string", lambda value: isinstance(value, str) and bool(value.strip()))


def mapping(doc: str) -> Field:
    return Field(doc, "a mapping of strings", lambda value: isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()))


def sizes(doc: str) -> Field:
    """{cell: hidden size} with exactly the cells of surnames/registry.yaml."""
    cells = ", ".join(ladder.RUNGS)
    return Field(doc, f"a mapping of every cell ({cells}) to a hidden size from 1 to 4096", lambda value: (
        isinstance(value, dict) and set(value) == set(ladder.RUNGS)
        and all(_is_int(v) and 1 <= v <= 4096 for v in value.values())))


SEED_MAX = 2**31 - 100  # seeds (plus a fold number) must fit torch's and numpy's seed ranges


def _train_section(model: str) -> dict[str, Field]:
    return {
        "hidden_size": number(int, f"{model} hidden state size", 1, 4096),
        "optimizer": choice("adam or plain SGD", "adam", "sgd"),
        "lr": number(float, "learning rate", above=0),
        "batch_size": number(int, "names per optimizer step", 1, 65536),
        "iterations": number(int, "optimizer steps per fold", 1),
        "eval_every": number(int, "validate every this many steps", 1),
        "sampler": choice("balanced: random language, then name (the course report's draw); "
                          "natural: names as they come",
                          "balanced", "natural"),
        "grad_clip": number(float, "max gradient norm; 0 = off", 0),
        "seed": number(int, "fold i trains with seed + i", 0, SEED_MAX),
        "folds": ints("which folds to train", 0, 19),
        "processes": number(int, "folds trained at once, each in its own worker process", 1, 64),
        "threads": threads("torch CPU threads per worker process"),
        "loss_weights": choice("balanced: class-weighted NLL", "none", "balanced"),
        "weight_decay": number(float, "> 0: AdamW with this decoupled weight decay", 0, 1),
        "keep": choice("final, or the best checkpoint by select_by at each validation", "final", "best"),
        "select_by": choice("the val score keep: best uses", "balanced_accuracy", "macro_f1", "accuracy"),
        "lr_schedule": choice("cosine: decay to 0 over the run", "none", "cosine"),
        "dropout": number(float, "dropout on the last hidden state, training only", 0, 0.9),
    }


SCHEMA: dict[str, dict[str, Field]] = {
    "prepare": {
        "url": text("the official zip, used when NAMES_DATA_DIR is not set"),
        "timeout_s": number(float, "download timeout in seconds", 1, 3600),
        "folds": number(int, "cross-validation folds; every distinct name is tested in one", 2, 20),
        "val_fraction": number(float, "share of each fold's non-test names used for validation", high=0.9, above=0),
        "seed": number(int, "seed of the fold assignment and val split", 0, SEED_MAX),
    },
    # The course pair: the course report's two cells, each at its own budget.
    **{f"train_{name}": _train_section(ladder.LABELS[name]) for name in ladder.COURSE},
    # The ladder (surnames/grid.py): every cell of the registry trained alike, once per lr.
    "budgets": {
        "lrs": rates("one ladder@<cell>-<lr> stage per cell and learning rate"),
        "hidden_size": sizes("each cell's hidden size (capacity is what the LSTM-sized tanh RNN changes)"),
        "optimizer": choice("adam or plain SGD, for every rung", "adam", "sgd"),
        "iterations": number(int, "optimizer steps per fold, for every rung", 1),
        "batch_size": number(int, "names per optimizer step, for every rung", 1, 65536),
        "sampler": choice("the training draw, for every rung (balanced: the course report's)", "balanced", "natural"),
        "grad_clip": number(float, "max gradient norm; 0 = off", 0),
        "seed": number(int, "fold i trains with seed + i", 0, SEED_MAX),
        "folds": ints("which folds to train", 0, 19),
        "processes": number(int, "a ladder point's folds trained at once, each in its own worker process", 1, 64),
        "threads": threads("torch CPU threads per worker process"),
    },
    "baseline": {
        "ngram_range": ints("character n-gram lengths [low, high]", 1, 8, length=2, increasing=True),
        "C": number(float, "inverse L2 strength of the logistic regression", above=0),
        "class_weight": choice("balanced: weights inverse to language frequency", "none", "balanced"),
        "max_iter": number(int, "solver iterations at most", 10, 100000),
        "tol": number(float, "solver tolerance", 1e-8, 1.0),
        "processes": number(int, "folds fitted at once", 1, 64),
    },
    "evaluate": {
        "length_buckets": ints("upper bounds of the name-length buckets", 1, 100, increasing=True),
        "gradient_min_letters": number(int, "gradient flow is measured on test names at least this long", 2, 100),
        "bootstrap_draws": number(int, "resamples of names for every interval", 1000, 100000),
        "bootstrap_seed": number(int, "seed of the resampling", 0, SEED_MAX),
        "confidence": number(float, "interval coverage", 0.5, 0.999),
        "threads": threads("torch CPU threads"),
    },
    "report": {
        "dpi": number(int, "figure resolution", 50, 400),
        "course_figures": mapping("the course report's published accuracy per model"),
    },
}


def _nearest(word: str, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else f" (valid: {', '.join(options)})"


def check_section(section: str, values, path="params.yaml") -> dict:
    """`values` checked against the section's schema: every key known, present and valid."""
    schema = SCHEMA[section]
    if not isinstance(values, dict):
        raise ProjectError(f"{path}: '{section}' must be a mapping of params")
    for key in values:
        if key not in schema:
            raise ProjectError(f"{path}: unknown param {section}.{key}{_nearest(str(key), schema)}")
    for key, field in schema.items():
        if key not in values:
            raise ProjectError(f"{path}: missing param {section}.{key} ({field.doc})")
        field.check(values[key], f"{section}.{key}")
    return values


def check_all(params, path="params.yaml") -> dict:
    if not isinstance(params, dict):
        raise ProjectError(f"{path} must be a mapping of sections ({', '.join(SCHEMA)})")
    for section in params:
        if section not in SCHEMA:
            raise ProjectError(f"{path}: unknown section '{section}'{_nearest(str(section), SCHEMA)}")
    for section in SCHEMA:
        if section not in params:
            raise ProjectError(f"{path} has no '{section}' section")
        check_section(section, params[section], path)
    _check_folds(params, path)
    return params


def _check_folds(params: dict, path) -> None:
    """Across sections: a training section's folds are among the prepared ones (refused here,
    by the params stage, before DVC has deleted any model folder)."""
    prepared = params["prepare"]["folds"]
    for section, values in params.items():
        beyond = [fold for fold in values.get("folds", []) if fold >= prepared] if section != "prepare" else []
        if beyond:
            raise ProjectError(f"{path}: {section}.folds lists fold {beyond[0]}, but prepare.folds is {prepared} "
                               f"(folds 0-{prepared - 1}); drop it or raise prepare.folds")


def read_params(path: Path = Path("params.yaml")) -> dict:
    """The whole params file, every section checked against the schema."""
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    return check_all(parse_yaml(content, path), path)


def load_params(section: str, path: Path = Path("params.yaml")) -> dict:
    """One section of the checked params file."""
    return read_params(path)[section]


def resolve_threads(value) -> int:
    return available_cores() if value == "auto" else value


def schema_page() -> str:
    """docs/params.md: every param of the schema, a table per section (a test keeps it current)."""
    lines = ["# Params", "", "Generated from the schema in `surnames/params.py` by "
             "`python -m stages.params --describe > docs/params.md`;", "tests/test_docs.py fails when this page "
             "is stale. Every stage checks the whole of `params.yaml` against", "this schema before it runs, and "
             "refuses an unknown, missing or invalid param in one line.", ""]
    for section, fields in SCHEMA.items():
        lines += [f"## `{section}`", "", "| param | expected | meaning |", "|---|---|---|"]
        lines += [f"| `{section}.{key}` | {field.documented} | {field.doc} |" for key, field in fields.items()]
        lines.append("")
    return "\n".join(lines)
