"""The model-file format, in one place for saving and loading.

A model file is a `torch.save` archive of a plain dict (loadable with weights_only=True, so
no code can ride along): for a seed cell {"model": "rnn"|"lstm", "state_dict", "categories",
"alphabet", "hidden_size"}; the baseline's keys are in stages/tfidf.py.
"""
import io
from pathlib import Path

import torch

from stages import models
from stages.alphabet import ALPHABET
from stages.atomic import write_bytes_atomic
from stages.errors import ProjectError

KEYS = {"model", "state_dict", "categories", "alphabet", "hidden_size"}


def save(path: Path, model_name: str, model: models.SeedCell, categories: list[str]) -> None:
    save_payload(path, {"model": model_name, "state_dict": model.state_dict(), "categories": categories,
                        "alphabet": ALPHABET, "hidden_size": model.hidden_size})


def save_payload(path: Path, payload: dict) -> None:
    buffer = io.BytesIO()  # an in-memory archive has a fixed internal name: byte-identical files
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def read_payload(path: Path, keys: set[str] = KEYS) -> dict:
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"model file {path} not found; run 'dvc repro' first")
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged archive
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProjectError(f"corrupt model file {path}: {reason}") from None
    if not isinstance(payload, dict) or not keys <= set(payload):
        raise ProjectError(f"corrupt model file {path}: expected keys {sorted(keys)}")
    return payload


def load(path: Path, categories: list[str] | None = None) -> tuple[str, models.SeedCell, list[str]]:
    """(model name, cell in eval mode, its languages) from a model file, checked against the
    expected languages when given."""
    payload = read_payload(path)
    if payload["model"] not in models.CELLS or payload["alphabet"] != ALPHABET:
        raise ProjectError(f"corrupt model file {path}: unknown model {payload['model']!r} or a different alphabet")
    if categories is not None and list(payload["categories"]) != categories:
        raise ProjectError(f"model file {path} was trained on other languages than categories.json; re-run 'dvc repro'")
    model = models.build(payload["model"], len(ALPHABET), payload["hidden_size"], len(payload["categories"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError) as error:
        # torch's first line is a header ("Error(s) in loading state_dict for LSTM:"); the cause follows
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        raise ProjectError(f"corrupt model file {path}: {lines[min(1, len(lines) - 1)][:200]}") from None
    return payload["model"], model.eval(), list(payload["categories"])
