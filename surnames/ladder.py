"""The ladder: which cells exist, and which steps between them the report asks about.

The course report says the LSTM beats the RNN through (1) gradient flow, (2) long-range
memory and (3) its gates. The ladder asks which change from the course RNN to the course
LSTM carries the lead, one change at a time:

    rnn ──non-linearity──▶ tanh_rnn ──capacity──▶ wide_tanh_rnn ──the LSTM cell──▶ lstm
    wide_tanh_rnn ──the memory cell──▶ lstm_gates_open ──gates on the memory──▶ lstm
    wide_tanh_rnn ──▶ lstm_forget_open, lstm_output_open ──one gate──▶ lstm
    wide_tanh_rnn ──the GRU's gates──▶ gru ──LSTM over GRU──▶ lstm

Every cell is trained alike at every lr of `budgets.lrs` (the `ladder@<cell>-<lr>` stages);
each step is `model − against` on held-out names, paired (surnames/matched.py). Cells and
steps are rows of surnames/registry.yaml (plain data, read here, no torch: the report imports
it too).
"""
from dataclasses import dataclass
from pathlib import Path

import yaml

from surnames.errors import ProjectError

REGISTRY = Path(__file__).with_name("registry.yaml")
# The questions a step may answer (`about`), in the order the answer words them (registry.yaml says what each is).
ABOUT = ("lstm cell", "memory or gates", "one gate", "GRU")


@dataclass(frozen=True)
class Cell:
    name: str
    label: str  # the report's name for it
    architecture: str  # its class in surnames/cells.py
    kernel: str | None = None  # a hand-written accelerator of surnames/kernels.py (ACCELERATORS), else autograd
    sized_like: str | None = None  # another cell whose parameter count its hidden size matches (a test checks it)


@dataclass(frozen=True)
class Step:
    name: str  # the report's name for the step, e.g. "the memory cell"
    model: str
    against: str
    change: str  # what the one change between the two cells is
    about: str | None = None  # the question it answers, one of ABOUT (the report's answer words each group)


@dataclass(frozen=True)
class Registry:
    cells: dict[str, Cell]
    course: tuple[str, ...]
    steps: tuple[Step, ...]


REQUIRED = {"cell": {"label": "the report's name for it", "architecture": "its class in surnames/cells.py"},
            "step": {"name": "the report's name for it", "model": "a cell", "against": "a cell",
                     "change": "what the one change between the two cells is"}}


def _require(path: Path, kind: str, name, fields) -> None:
    """One line naming a row's missing field, what it holds and the fix."""
    missing = [field for field in REQUIRED[kind] if field not in (fields or {})]
    if missing:
        raise ProjectError(f"{path}: {kind} {name!r} has no `{missing[0]}` ({REQUIRED[kind][missing[0]]}); add it "
                           "to the row (docs/development.md)")


def read_registry(path: Path = REGISTRY) -> Registry:
    """The registry, checked: one line naming what is wrong and where."""
    try:
        document = yaml.safe_load(Path(path).read_text())
        steps = ((fields.get("name"), fields) for fields in document["steps"])
        for kind, rows in (("cell", document["cells"].items()), ("step", steps)):
            for name, fields in rows:
                _require(path, kind, name, fields)
        cells = {name: Cell(name, **fields) for name, fields in document["cells"].items()}
        course = tuple(document["course"])
        steps = tuple(Step(**fields) for fields in document["steps"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        raise ProjectError(f"cannot read the registry of cells {path} ({str(error).splitlines()[0]})") from None
    problems = [f"course cell {name!r} is not a row of cells" for name in course if name not in cells]
    problems += [f"step {s.name!r}: {field} {value!r} is not a row of cells" for s in steps
                 for field, value in (("model", s.model), ("against", s.against)) if value not in cells]
    problems += [f"step {s.name!r}: about {s.about!r} is not one of {', '.join(ABOUT)}" for s in steps
                 if s.about is not None and s.about not in ABOUT]
    problems += [f"cell {c.name!r}: sized_like {c.sized_like!r} is not a row of cells" for c in cells.values()
                 if c.sized_like is not None and c.sized_like not in cells]
    if len({s.name for s in steps}) != len(steps):
        problems.append("two steps share a name")
    if problems:
        raise ProjectError(f"{path}: {'; '.join(problems)}")
    return Registry(cells, course, steps)


REGISTERED = read_registry()
RUNGS = tuple(REGISTERED.cells)  # every cell, bottom rung first: the grid's cells
COURSE = REGISTERED.course
STEPS = REGISTERED.steps
LABELS = {name: cell.label for name, cell in REGISTERED.cells.items()}
CLAIM_SCORES = ("balanced_accuracy", "corrected_accuracy")  # what a claim rests on: the balanced draw cannot game them
TABLE_SCORES = ("accuracy", "corrected_accuracy", "balanced_accuracy", "macro_f1")  # what the tables show
OWN_BEST = "own best"  # the view with each cell at its best lr on val names (surnames/verdicts.py)
