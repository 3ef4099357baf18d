"""Reading params.yaml and checking the values a stage reads from it."""
from pathlib import Path

import yaml

from stages.errors import ProjectError


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
