"""What a model said about each name: in memory (Scored) and on disk (predictions/<model>.csv).

The scoring stage (surnames/score.py) writes the file, evaluate (surnames/evaluate.py) reads
it back; this module is the one place that knows its columns:

    protocol,fold,name,language,predicted,corrected,nll[,gradient_0,gradient_1,...]

one row per (protocol, fold, name), both protocols (`train`: in-sample, `test`: held out), and
for a ladder model `val` (its fold's val names, on which its own best lr is chosen).
`predicted` is the most probable language, `corrected` the most probable once corrected for
the training draw's prior, `nll` the negative log-likelihood of the true language; a cell's
held-out rows with enough letters also carry their gradient norms by distance (empty
elsewhere). Floats are written in full (repr), so evaluate reads back exactly what was
computed. Written with the csv module (pandas' import alone is 0.3 s of a 3 s scoring stage),
read with pandas' C reader.
"""
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from surnames.errors import ProjectError

PROTOCOLS = ("train", "test")  # every model's; a ladder model's file also has `val` rows (own best is chosen on them)
ALL_PROTOCOLS = (*PROTOCOLS, "val")
COLUMNS = ["protocol", "fold", "name", "language", "predicted", "corrected", "nll"]
GRADIENT = "gradient_"  # the column GRADIENT<i>: the gradient norm at distance i from the last letter


@dataclass
class Rows:
    """One protocol's rows, pooled over folds: who they are."""
    names: list[str]
    targets: torch.Tensor
    lengths: torch.Tensor
    fold: torch.Tensor


@dataclass
class Predictions:
    """What one model said about each row of one protocol: its most probable language, the
    most probable once corrected for the training draw's prior (score.prior_offsets), and the NLL."""
    rows: Rows
    predicted: torch.Tensor
    corrected: torch.Tensor
    nll: torch.Tensor


@dataclass
class GradientFlow:
    """||d loss / d hidden state|| at distances 0, 1, ... from the last letter [names, distances],
    for the held-out rows `picked` (indices into the test rows, in the order computed)."""
    picked: torch.Tensor
    norms: torch.Tensor


@dataclass
class Scored:
    """A model's predictions on both protocols, and a cell's gradient flow."""
    model: str
    predictions: dict[str, Predictions]
    gradients: GradientFlow | None = None


def _number(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


def _field(text: str) -> str:
    """A text field as the csv module quotes it (a name may hold a comma)."""
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\r\n') else text


def csv_bytes(scored: Scored, categories: list[str]) -> bytes:
    """The predictions file of `scored`, line by line with the csv module's quoting (0.15 s for
    score@lstm's file here; the csv module's writer took 0.47 s, pandas 0.35 s, under cProfile)."""
    languages = [_field(language) for language in categories]
    distances = scored.gradients.norms.shape[1] if scored.gradients is not None else 0
    lines = [",".join(COLUMNS + [f"{GRADIENT}{d}" for d in range(distances)])]
    for protocol in (protocol for protocol in ALL_PROTOCOLS if protocol in scored.predictions):
        p = scored.predictions[protocol]
        tails = ["," * distances] * len(p.rows.names)  # no gradient norms: empty fields
        if distances and protocol == "test":
            for row, norms in zip(scored.gradients.picked.tolist(), scored.gradients.norms.tolist()):
                tails[row] = "".join("," + _number(norm) for norm in norms)
        lines += [f"{protocol},{fold},{_field(name)},{languages[target]},{languages[predicted]},"
                  f"{languages[corrected]},{nll!r}{tail}"
                  for fold, name, target, predicted, corrected, nll, tail in zip(
                      p.rows.fold.tolist(), p.rows.names, p.rows.targets.tolist(), p.predicted.tolist(),
                      p.corrected.tolist(), p.nll.tolist(), tails)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _frame(path: Path):
    """The file as a DataFrame of typed columns (pandas' C reader: a few times faster than the
    csv module on evaluate's 650 000 rows; imported here, so that writing never loads it)."""
    import pandas as pd
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader([handle.readline()]), [])
        gradient_columns = [c for c in header if c.startswith(GRADIENT)]
        if header != COLUMNS + gradient_columns:
            raise ProjectError(f"{path} must have columns {','.join(COLUMNS)}[,gradient_<i>...] and rows; "
                               "re-run its score stage")
        numbers = ["nll", *gradient_columns]
        types = {c: float if c in numbers else "uint32" if c == "fold" else str for c in header}
        frame = pd.read_csv(path, dtype=types, keep_default_na=False,
                            na_values={c: [""] for c in gradient_columns})  # pandas 3 reads floats exactly
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"cannot read {path}: {' '.join(str(error).split())}; run 'dvc repro'") from None
    except (ValueError, OverflowError) as error:  # a number or fold that does not parse, a ragged row
        raise ProjectError(f"{path}: a fold, nll or gradient column holds a value that is not a whole number or a "
                           f"number ({' '.join(str(error).split())}); re-run its score stage") from None
    if frame.empty:
        raise ProjectError(f"{path} must have columns {','.join(COLUMNS)}[,gradient_<i>...] and rows; "
                           "re-run its score stage")
    return frame, gradient_columns


def _codes(frame, column: str, categories: list[str]) -> torch.Tensor:
    """A language column as indices into `categories` (-1: not one of them)."""
    import pandas as pd
    return torch.from_numpy(pd.Index(categories).get_indexer(frame[column]).astype(np.int64))


def read(path: Path, categories: list[str]) -> Scored:
    """A predictions file, back as the tensors it was written from (the model: its stem)."""
    path = Path(path)
    frame, gradient_columns = _frame(path)
    languages = {column: _codes(frame, column, categories) for column in ("language", "predicted", "corrected")}
    if any(bool((codes < 0).any()) for codes in languages.values()) or not frame["protocol"].isin(ALL_PROTOCOLS).all():
        known = set(categories)
        unknown = sorted({x for c in languages for x in frame[c].unique().tolist()} - known)
        raise ProjectError(f"{path} has unknown languages {unknown[:3]} or protocols; re-run its score stage")
    folds = torch.from_numpy(frame["fold"].to_numpy(np.int64, copy=True))
    nll = torch.from_numpy(frame["nll"].to_numpy(np.float64, copy=True))  # a copy: pandas' own array is read-only
    names, lengths = frame["name"].tolist(), torch.from_numpy(frame["name"].str.len().to_numpy(np.int64, copy=True))
    predictions, rows_of = {}, {}
    present = set(frame["protocol"].unique().tolist())
    for protocol in (*PROTOCOLS, *(["val"] if "val" in present else [])):
        rows_of[protocol] = torch.from_numpy(np.flatnonzero(frame["protocol"].to_numpy() == protocol))
        rows = rows_of[protocol]
        predictions[protocol] = Predictions(
            Rows(names=[names[i] for i in rows.tolist()], targets=languages["language"][rows], lengths=lengths[rows],
                 fold=folds[rows]),
            languages["predicted"][rows], languages["corrected"][rows], nll[rows])
    scored = Scored(path.stem, predictions)
    if gradient_columns:
        norms = torch.from_numpy(frame[gradient_columns].to_numpy(np.float64, copy=True))[rows_of["test"]]
        scored.gradients = gradient_flow_of(predictions["test"].rows, norms)
    return scored


def gradient_flow_of(rows: Rows, norms: torch.Tensor) -> GradientFlow:
    """The rows that carry gradient norms (the others are NaN), in the order the scoring stage
    computed them (by fold, then name length, then row), so that sums add up in the same order."""
    measured = torch.nonzero(~norms[:, 0].isnan()).flatten().tolist()
    picked = torch.tensor(sorted(measured, key=lambda i: (int(rows.fold[i]), int(rows.lengths[i]), i)))
    return GradientFlow(picked, norms[picked])
