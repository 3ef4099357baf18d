"""The model-file format, in one place for saving and loading.

A model file is a `torch.save` archive of a plain dict (loadable with weights_only=True, so
no code can ride along): for a cell {"model": a name in cells.CELLS, "state_dict", "categories",
"alphabet", "hidden_size"}; the baseline's keys are in surnames/tfidf.py.

Both kinds also hold what predict needs to say which prior over languages its probabilities
assume (PRIOR_KEYS): "train_counts", the fold's training names per language (ints, in the order
of "categories"), and "prior_power", how many times training divided the languages' frequencies
out of the model's prior (surnames.score.prior_power: 1 for the balanced draw, 1 more for
balanced loss or class weights). A model's outputs thus assume a prior proportional to
frequency ** (1 - prior_power). Scoring does not read them; predict refuses a file without them.
"""
import io
import re
from pathlib import Path

import torch

from surnames import cells
from surnames.alphabet import ALPHABET
from surnames.errors import ProjectError

KEYS = {"model", "state_dict", "categories", "alphabet", "hidden_size"}
PRIOR_KEYS = ("train_counts", "prior_power")
MAX_PRIOR_POWER = 2  # the balanced draw and balanced loss weights, each once


def save(path: Path, model_name: str, model: cells.Cell, categories: list[str], *,
         train_counts: list[int] | None = None, prior_power: int | None = None) -> None:
    """A cell as a model file; with train_counts and prior_power (PRIOR_KEYS), as training writes it,
    a file predict can use (without them, one it refuses)."""
    save_payload(path, {"model": model_name, "state_dict": model.state_dict(), "categories": categories,
                        "alphabet": ALPHABET, "hidden_size": model.hidden_size,
                        **prior_payload(train_counts, prior_power)})


def cell_prior_power(training: dict) -> int:
    """A cell's prior_power from its training params (surnames.score.prior_power for a cell): once
    for the balanced draw, once for balanced loss weights."""
    return int(training["sampler"] == "balanced") + int(training["loss_weights"] == "balanced")


def prior_payload(train_counts: list[int] | None, prior_power: int | None) -> dict:
    """The PRIOR_KEYS entries of a payload (plain ints, loadable with weights_only=True), or none."""
    if train_counts is None and prior_power is None:
        return {}
    if train_counts is None or prior_power is None:
        raise ValueError("give both train_counts and prior_power, or neither")
    return {"train_counts": [int(count) for count in train_counts], "prior_power": int(prior_power)}


def read_prior(path: Path, payload: dict, n_categories: int) -> tuple[list[int], int]:
    """(train_counts, prior_power) of a payload, checked; a file without them (written before predict
    said which prior it assumes) or with tampered ones is refused in one line naming the file."""
    if not all(key in payload for key in PRIOR_KEYS):
        raise ProjectError(f"model file {path} has no {' or '.join(PRIOR_KEYS)} (it predates predict's --prior, "
                           "which needs them); re-run 'dvc repro' to re-create it")
    counts, power = payload["train_counts"], payload["prior_power"]
    if not (isinstance(counts, list) and len(counts) == n_categories
            and all(type(c) is int and c >= 0 for c in counts) and sum(counts) > 0):
        raise ProjectError(f"corrupt model file {path}: train_counts must be {n_categories} counts (ints >= 0, "
                           "not all 0), one per language")
    if type(power) is not int or not 0 <= power <= MAX_PRIOR_POWER:  # bool is an int: ask for the type itself
        raise ProjectError(f"corrupt model file {path}: prior_power must be an int from 0 to {MAX_PRIOR_POWER}, "
                           f"got {power!r}")
    return counts, power


def save_payload(path: Path, payload: dict) -> None:
    from surnames.atomic import write_bytes  # here, not at the top: predict, which only reads, never needs it

    buffer = io.BytesIO()  # an in-memory archive has a fixed internal name: byte-identical files
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def read_payload(path: Path, keys: set[str] = KEYS, payload: dict | None = None) -> dict:
    """The file's payload, checked to have `keys`; a `payload` already read is only checked."""
    path = Path(path)
    if payload is None and not path.exists():
        raise ProjectError(f"model file {path} not found; run 'dvc repro' first")
    try:
        payload = torch.load(path, weights_only=True) if payload is None else payload
    except Exception as error:  # torch raises many types for a damaged archive
        raise ProjectError(f"corrupt model file {path}: {_load_failure(error)}") from None
    if not isinstance(payload, dict) or not keys <= set(payload):
        raise ProjectError(f"corrupt model file {path}: expected keys {sorted(keys)}")
    return payload


def _load_failure(error: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, in this project's words (torch's own
    message advises loading without weights_only, which would run the file's code)."""
    text = str(error)
    unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if unsupported:
        return (f"it holds a Python object ({unsupported.group(1)}), not only weights; a model file holds "
                "tensors and plain values (surnames/model_file.py): re-create it with 'dvc repro'")
    if isinstance(error, EOFError):
        return "it is empty or cut short; re-create it with 'dvc repro'"
    cause = "" if "Weights only load failed" in text or not text else f" ({' '.join(text.split())[:120]})"
    return f"not a model file: torch cannot read it as an archive of weights{cause}; give a fold-<i>.pt file " \
           "that 'dvc repro' wrote"


def load(path: Path, categories: list[str] | None = None,
         payload: dict | None = None) -> tuple[str, cells.Cell, list[str]]:
    """(model name, cell in eval mode, its languages) from a model file, checked against the
    expected languages when given. Every check of a tampered payload is one line naming the file."""
    payload = read_payload(path, payload=payload)
    name, hidden_size, state, languages = (payload[key] for key in ("model", "hidden_size", "state_dict", "categories"))
    if not isinstance(name, str) or name not in cells.CELLS or payload["alphabet"] != ALPHABET:
        raise ProjectError(f"corrupt model file {path}: unknown model {name!r} or a different alphabet")
    if type(hidden_size) is not int or hidden_size < 1:  # bool is an int: ask for the type itself
        raise ProjectError(f"corrupt model file {path}: hidden_size must be a positive int, got {hidden_size!r}")
    if not isinstance(languages, list) or not languages or not all(isinstance(c, str) for c in languages):
        raise ProjectError(f"corrupt model file {path}: categories must be a list of language names")
    if len(set(languages)) != len(languages):
        raise ProjectError(f"corrupt model file {path}: categories must be distinct")
    if isinstance(state, dict) and any(isinstance(t, torch.Tensor) and t.is_floating_point()
                                       and not bool(torch.isfinite(t).all()) for t in state.values()):
        raise ProjectError(f"corrupt model file {path}: its weights are not all finite")
    if categories is not None and languages != categories:
        raise ProjectError(f"model file {path} was trained on other languages than categories.json; re-run 'dvc repro'")
    # The weights of another cell under this name: say which (the file records its kind, the keys confirm
    # it; cells with the same layers, such as the RNN and the tanh RNN, cannot be told apart by their keys).
    keys = set(state) if isinstance(state, dict) else None
    other = next((cell for cell in cells.CELLS if keys is not None and keys != _keys(name)
                  and keys == _keys(cell)), None)
    if other:
        raise ProjectError(f"corrupt model file {path}: it says {name} but holds {other} weights")
    try:  # keys and shapes first on the meta device: a huge tampered hidden_size allocates nothing
        _skeleton(name, hidden_size, len(languages)).load_state_dict(state, assign=True)
        model = cells.build(name, len(ALPHABET), hidden_size, len(languages))
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as error:
        # torch's first line is a header ("Error(s) in loading state_dict for LSTM:"); the cause follows
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        raise ProjectError(f"corrupt model file {path}: {lines[min(1, len(lines) - 1)][:200]}") from None
    return name, model.eval(), languages


def _keys(name: str) -> set[str]:
    return set(_skeleton(name, 1, 1).state_dict())


def _skeleton(name: str, hidden_size: int, outputs: int) -> cells.Cell:
    with torch.device("meta"):
        return cells.build(name, len(ALPHABET), hidden_size, outputs)
