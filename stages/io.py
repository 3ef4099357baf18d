"""Shared plumbing: one-line errors, params, atomic writes, prepared data, model files."""
import functools
import io
import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch
import yaml

PREPARED = Path("data/prepared")


class ProjectError(Exception):
    """A problem the user can fix; reported as one line, exit status 1."""


def cli(main):
    """Run a stage's main(argv) so that a ProjectError is one line on stderr, exit 1."""

    @functools.wraps(main)
    def run(argv=None):
        try:
            main(sys.argv[1:] if argv is None else argv)
        except ProjectError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)

    return run


def read_params(path: Path = Path("params.yaml"), sections=()) -> dict:
    """The whole params file, checked to have each of `sections`."""
    try:
        params = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ProjectError(f"cannot read {path}: {error}") from None
    for section in sections:
        if not isinstance(params, dict) or not isinstance(params.get(section), dict):
            raise ProjectError(f"{path} has no '{section}' section")
    return params


def load_params(section: str, path: Path = Path("params.yaml")) -> dict:
    return read_params(path, [section])[section]


def check_number(params: dict, key: str, kind, low=None, high=None, section=""):
    """Return params[key] if it is a `kind` within [low, high], else raise ProjectError."""
    value = params.get(key)
    accepted = (int, float) if kind is float else kind  # an int is a fine float
    ok_kind = isinstance(value, accepted) and not isinstance(value, bool)
    if not ok_kind or (low is not None and value < low) or (high is not None and value > high):
        bounds = f" in [{low}, {high}]" if high is not None else (f" >= {low}" if low is not None else "")
        raise ProjectError(f"invalid param {section}.{key}={value!r}: expected a {kind.__name__}{bounds}")
    return value


def check_choice(params: dict, key: str, choices, section=""):
    value = params.get(key)
    if value not in choices:
        raise ProjectError(f"invalid param {section}.{key}={value!r}: expected one of {', '.join(choices)}")
    return value


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary sibling and rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n", float_format="%.6g"))


@contextmanager
def staged_dir(path: Path):
    """Yield a temporary directory that replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def load_categories(directory: Path = PREPARED) -> list[str]:
    path = Path(directory) / "categories.json"
    try:
        categories = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ProjectError(f"cannot read {path}: {error}; run the prepare stage first") from None
    if not isinstance(categories, list) or not categories or categories != sorted(set(categories)):
        raise ProjectError(f"{path} must be a sorted list of distinct languages")
    return categories


def load_split(split: str, categories: list[str], directory: Path = PREPARED) -> pd.DataFrame:
    """Read one prepared split and check that its languages are exactly `categories`."""
    path = Path(directory) / f"{split}.csv"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise ProjectError(f"cannot read {path}: {error}; run the prepare stage first") from None
    if list(frame.columns) != ["name", "language"] or frame.empty:
        raise ProjectError(f"{path} must have columns name,language and at least one row")
    found = sorted(set(frame["language"]))
    if found != categories:
        extra = sorted(set(found) - set(categories))
        missing = sorted(set(categories) - set(found))
        raise ProjectError(f"{path} languages differ from categories.json (extra: {extra}, missing: {missing})")
    return frame


def save_model(path: Path, payload: dict) -> None:
    buffer = io.BytesIO()  # an in-memory archive has a fixed internal name: byte-identical files
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_model_file(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"model file {path} not found; run 'dvc repro' first")
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged archive
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProjectError(f"corrupt model file {path}: {reason}") from None
    required = {"model", "state_dict", "categories", "alphabet", "hidden_size"}
    if not isinstance(payload, dict) or not required <= set(payload):
        raise ProjectError(f"corrupt model file {path}: expected keys {sorted(required)}")
    return payload
