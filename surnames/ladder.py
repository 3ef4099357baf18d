"""The ablation ladder: which cells are compared, and what each comparison isolates.

The course report says the LSTM beats the RNN through (1) gradient flow, (2) long-range
memory and (3) its gates. The ladder asks which change from the course RNN to the course
LSTM carries the lead, one change at a time (cells in surnames/cells.py):

    rnn ──tanh──▶ tanh_rnn ──width──▶ wide_tanh_rnn ──gates──▶ lstm
                                                   lstm_forget_open ─┐ (lstm − each: that gate)
                                                   lstm_output_open ─┘

Each comparison is `model − against` on held-out names, paired (surnames/evaluate.py).
The cells themselves are rows of surnames/registry.yaml (plain data, read here): their names,
labels, classes, the course cell each is one change from, and what each rung's comparison
isolates. Plain data, no torch: the report imports it too.
"""
from dataclasses import dataclass
from pathlib import Path

import yaml

from surnames.errors import ProjectError

REGISTRY = Path(__file__).with_name("registry.yaml")


@dataclass(frozen=True)
class Cell:
    name: str
    label: str  # the report's name for it
    architecture: str  # its class in surnames/cells.py
    parent: str | None = None  # the course cell it is one change from; None for a course cell
    against: str | None = None  # the rung its own comparison is against
    isolates: str | None = None  # what that comparison changes


@dataclass(frozen=True)
class Pair:
    model: str
    against: str
    isolates: str  # what the comparison changes, for the report's table


def read_registry(path: Path = REGISTRY) -> dict[str, Cell]:
    """The registry's rows by name, bottom rung first, checked: one line naming what is wrong."""
    try:
        document = yaml.safe_load(Path(path).read_text())
        rows = {name: Cell(name, **fields) for name, fields in document["cells"].items()}
        ablations = list(document["ablations"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        raise ProjectError(f"cannot read the registry of cells {path} ({str(error).splitlines()[0]})") from None
    problems = [f"{c.name}: {field} {value!r} is not a cell" for c in rows.values()
                for field, value in (("parent", c.parent), ("against", c.against)) if value and value not in rows]
    problems += [f"{c.name}: against without isolates" for c in rows.values() if bool(c.against) != bool(c.isolates)]
    if ablations != [c.name for c in rows.values() if c.parent]:
        problems.append("ablations must list the cells with a parent, in the cells' order")
    if problems:
        raise ProjectError(f"{path}: {'; '.join(problems)}")
    return rows


REGISTERED = read_registry()
RUNGS = tuple(REGISTERED)  # bottom to top
COURSE = tuple(name for name, cell in REGISTERED.items() if cell.parent is None)
ABLATIONS = tuple(name for name, cell in REGISTERED.items() if cell.parent)
LABELS = {name: cell.label for name, cell in REGISTERED.items()}

PAIRS = (  # each cell against the rung below it (the registry's `against`), then the course LSTM against each cell
    *(Pair(c.name, c.against, c.isolates) for c in REGISTERED.values() if c.against),
    Pair("lstm", "lstm_forget_open", "the forget gate"),
    Pair("lstm", "lstm_output_open", "the output gate"),
    Pair("lstm", "tanh_rnn", "gates and capacity"),
    Pair("lstm", "rnn", "everything: the course comparison"),
)
PATH = (("tanh_rnn", "rnn", "non-linearity"), ("wide_tanh_rnn", "tanh_rnn", "capacity"),
        ("lstm", "wide_tanh_rnn", "gating"))  # rnn -> lstm one change at a time: these add up to the gap
GATING = (("lstm", "lstm_forget_open", "the forget gate"),  # and the gating comparison, split in two
          ("lstm_forget_open", "wide_tanh_rnn", "the rest of the LSTM (its forget gate held open)"))
PAIR_SCORES = ("accuracy", "corrected_accuracy", "balanced_accuracy", "macro_f1")
OWN_BEST = "own best"  # the view of surnames/matched.py with each rung at its best val budget
