"""The registry of cells (surnames/registry.yaml) against everything that derives from it or
must list its rows: the cells' classes, the params schema and params.yaml, dvc.yaml's stages
and plots. A throwaway cell added to a copy of the project shows that a cell is a registry row
and its hidden size: no list in dvc.yaml or the tests needs an edit. (A throwaway architecture,
a new class, runs through `dvc repro` in tests/test_architecture.py.)"""
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from surnames import cells, dvc_yaml, ladder
from surnames.errors import ProjectError
from surnames.params import SCHEMA
from tests.helpers import ROOT


def problems(root: Path) -> list[str]:
    """What in root's dvc.yaml and params.yaml does not agree with root's registry, one line each."""
    registry = ladder.read_registry(root / "surnames/registry.yaml")
    names = list(registry.cells)
    dvc, params = root / "dvc.yaml", yaml.safe_load((root / "params.yaml").read_text())
    stages = dvc_yaml.stage_names(dvc)
    lrs = params["budgets"]["lrs"]
    found = []
    wanted_ladder = {f"ladder@{cell}-{lr}" for cell, lr in itertools.product(names, lrs)}
    found += [f"dvc.yaml lacks stage {s}" for s in sorted(wanted_ladder - set(stages))]
    found += [f"dvc.yaml stage {s} is not a cell and lr of the registry" for s in stages
              if s.startswith("ladder@") and s not in wanted_ladder]
    found += [f"dvc.yaml lacks stage score@{c} (a course cell)" for c in registry.course if f"score@{c}" not in stages]
    if set(params["budgets"]["hidden_size"]) != set(names):
        found.append("params.yaml budgets.hidden_size must name every cell of the registry")
    found += [f"params.yaml section {s} is not a course cell's" for s in params
              if s.startswith("train_") and s.removeprefix("train_") not in registry.course]
    found += [f"dvc.yaml stage {s} trains a cell outside the ladder" for s in stages
              if s.startswith("train") and s.removeprefix("train_") not in registry.course]
    document, confusion = yaml.safe_load(dvc.read_text()), set()
    for plot in document["plots"]:
        for title, spec in plot.items():
            y = spec.get("y") if isinstance(spec, dict) else None
            named = {_cell_in(path) for path in ([title] + list(y if isinstance(y, dict) else ()))} - {None}
            columns = [c for cs in (y.values() if isinstance(y, dict) else [y]) for c in (cs if isinstance(cs, list)
                                                                                        else [cs])]
            named |= {c for c in columns if c in registry.cells}  # a y-list of cells, as the budget plots once were
            if named - set(registry.course) or (isinstance(y, dict) and named and named != set(registry.course)):
                found.append(f"dvc.yaml plot '{title}' names cells {sorted(named)}: only the course pair may be listed")
            confusion.update(named if title.startswith("plots/confusion/") else ())
    if confusion != set(registry.course):
        found.append(f"dvc.yaml's confusion plots are of {sorted(confusion)}, not the course pair")
    found += [f"dvc.yaml lacks stage train_{c} (a course cell)" for c in registry.course if f"train_{c}" not in stages]
    reported = [Path(path).stem for path in document["stages"]["report"]["cmd"].split() if path.startswith("metrics/")
                and Path(path).stem in registry.cells]
    if reported != list(registry.course):
        found.append(f"dvc.yaml stage report reads the metrics of {reported}, not the course pair")
    pair = [_cell_in(path) for path in document["stages"]["evaluate"]["cmd"].split() if path.startswith("predictions/")]
    if [c for c in pair if c != "baseline"] != list(registry.course):
        found.append(f"dvc.yaml stage evaluate compares {pair}, not the course pair")
    return found


def _cell_in(path: str) -> str | None:
    """The cell a per-cell output path names (plots/<kind>/<cell>[.csv|/...], predictions/<cell>.csv), or None."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] == "plots" and parts[1] in ("curves", "confusion", "length", "gradients"):
        return parts[2].removesuffix(".csv")
    if len(parts) == 2 and parts[0] == "predictions":
        return parts[1].removesuffix(".csv")
    return None


def test_the_project_agrees_with_its_registry():
    assert problems(ROOT) == []


def test_no_cell_but_the_course_pair_has_a_budget_of_its_own():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    own = {s.removeprefix("train_") for s in params if s.startswith("train_")}
    assert own == set(ladder.COURSE)
    assert not [a for a in dvc_yaml.artifacts(ROOT / "dvc.yaml") if a not in (*ladder.COURSE, "baseline")]


def test_the_cells_classes_schema_and_labels_come_from_the_registry():
    registry = ladder.read_registry()
    assert ladder.RUNGS == tuple(registry.cells) and set(cells.CELLS) == set(registry.cells)
    assert all(cells.architecture(n).__name__ == c.architecture for n, c in registry.cells.items())
    assert {s.removeprefix("train_") for s in SCHEMA if s.startswith("train_")} == set(ladder.COURSE)
    assert [s.name for s in ladder.STEPS] == [s.name for s in registry.steps]


REGISTRY_TEXT = (ROOT / "surnames/registry.yaml").read_text()


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("    against: rnn\n", "    against: rn\n", 1), "step 'non-linearity': against 'rn' is not"),
    (lambda t: t.replace("course: [rnn, lstm]", "course: [rnn, lstmm]"), "course cell 'lstmm' is not a row"),
    (lambda t: t.replace("  - name: capacity\n", "  - name: non-linearity\n"), "two steps share a name"),
    (lambda t: t.replace("    label: tanh RNN\n", "    label: tanh RNN\n    colour: red\n"),
     "unexpected keyword argument 'colour'"),
    (lambda t: t.replace("cells:", "cels:"), "cannot read the registry of cells"),
    (lambda t: t.replace("    architecture: GRU\n", ""),
     "cell 'gru' has no `architecture` (its class in surnames/cells.py)"),
    (lambda t: t.replace("    against: gru\n", ""), "step 'LSTM over GRU' has no `against` (a cell)"),
    (lambda t: t + "  : [", "cannot read the registry of cells"),
])
def test_a_bad_registry_is_one_line_naming_what_is_wrong(tmp_path, change, message):
    path = tmp_path / "registry.yaml"
    path.write_text(change(REGISTRY_TEXT))
    assert path.read_text() != REGISTRY_TEXT
    with pytest.raises(ProjectError) as error:
        ladder.read_registry(path)
    assert message in str(error.value) and "\n" not in str(error.value), error.value


# The throwaway cell: a tanh RNN at half the course RNN's width, and a step against the course RNN.
ROW = """  narrow_tanh_rnn:
    label: tanh RNN (narrow)
    architecture: TanhRNN
"""
STEP = """  - name: width
    model: narrow_tanh_rnn
    against: rnn
    change: "the tanh RNN at half the hidden size"
"""


def add_row_and_params(root: Path) -> None:
    """The throwaway cell's row (above the wide tanh RNN), a step, and its hidden size."""
    registry = root / "surnames/registry.yaml"
    text = registry.read_text().replace("  wide_tanh_rnn:\n", ROW + "  wide_tanh_rnn:\n", 1)
    registry.write_text(text.replace("steps:\n", "steps:\n" + STEP, 1))
    params = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(params.replace("    wide_tanh_rnn: 277", "    narrow_tanh_rnn: 64\n"
                                                     "    wide_tanh_rnn: 277", 1))


@pytest.fixture
def project_copy(tmp_path):
    """What DVC and the params check read, copied: dvc.yaml, params.yaml, the code and .dvc's config."""
    copy = tmp_path / "project"
    for name in ("stages", "surnames"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, copy / name)
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=copy, check=True)
    return copy


def test_a_cell_is_a_registry_row_and_its_hidden_size(project_copy):
    add_row_and_params(project_copy)
    assert problems(project_copy) == []


def test_the_check_names_a_cell_listed_by_hand(project_copy):
    dvc = project_copy / "dvc.yaml"
    text = dvc.read_text()
    old = "      y: accuracy\n"
    dvc.write_text(text.replace(old, "      y:\n        plots/budgets/accuracy.csv: [rnn, tanh_rnn, lstm]\n", 1))
    assert problems(project_copy) == ["dvc.yaml plot 'plots/budgets/accuracy.csv' names cells ['lstm', 'rnn', "
                                      "'tanh_rnn']: only the course pair may be listed"]
    old = "        plots/length/lstm.csv: [accuracy, low, high]\n"
    dvc.write_text(text.replace(old, old + "        plots/length/gru.csv: [accuracy, low, high]\n"))
    assert problems(project_copy) == ["dvc.yaml plot 'Accuracy by name length, held out (value and 95 % interval)' "
                                      "names cells ['gru', 'lstm', 'rnn']: only the course pair may be listed"]


def test_a_throwaway_cell_gets_its_stages_schema_and_step(project_copy):
    add_row_and_params(project_copy)
    env = {**os.environ, "PYTHONPATH": str(project_copy)}

    def run(*command: str) -> str:
        done = subprocess.run(command, cwd=project_copy, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    stages = run("dvc", "stage", "list", "--name-only").split()
    assert {"ladder@narrow_tanh_rnn-0.003", "ladder@narrow_tanh_rnn-0.01"} <= set(stages)
    run(sys.executable, "-m", "stages.params", "params.yaml")
    derived = run(sys.executable, "-c", "from surnames import cells, ladder; "
                  "print(ladder.RUNGS[2], ladder.LABELS['narrow_tanh_rnn'], "
                  "cells.architecture('narrow_tanh_rnn').__name__, ladder.STEPS[0].name)")
    assert derived.split() == ["narrow_tanh_rnn", "tanh", "RNN", "(narrow)", "TanhRNN", "width"], derived
    assert dvc_yaml.module_args("ladder@narrow_tanh_rnn-0.01", project_copy / "dvc.yaml")[:2] == [
        "narrow_tanh_rnn", "0.01"]


# A bad row is one line naming it and the fix, from the params stage (dvc repro's first), before
# any training. Each case: (registry edit, cells.py addition, message).
BROKEN_UPDATE = '''

class Broken(RNN):
    def update(self, input, hidden):
        return (hidden[:, :2],)
'''


@pytest.mark.parametrize("edit, code, message", [
    (lambda t: t.replace("architecture: GRU\n", "architecture: Gru\n"), "",
     "cell 'gru' names architecture 'Gru', which is not a cell class of surnames/cells.py"),
    (lambda t: t.replace("architecture: GRU\n", "architecture: GRU\n    kernel: lstm\n"), "",
     "cell 'gru': kernel 'lstm' does not fit class GRU (AttributeError: 'GRU' object has no attribute 'i2i')"),
    (lambda t: t.replace("architecture: GRU\n", "architecture: GRU\n    kernel: cuda\n"), "",
     "cell 'gru': kernel 'cuda' is not one of linear, tanh, lstm"),
    (lambda t: t.replace("architecture: LSTMGatesOpen\n", "architecture: LSTMGatesOpen\n    kernel: tanh\n"), "",
     "cell 'lstm_gates_open': kernel 'tanh' does not fit class LSTMGatesOpen"),
    (lambda t: t.replace("TanhRNN\n    kernel: tanh\n", "TanhRNN\n    kernel: linear\n", 1), "",
     "cell 'tanh_rnn': kernel 'linear' computes other values than TanhRNN.update"),
    (lambda t: t.replace("architecture: GRU\n", "architecture: Broken\n"), BROKEN_UPDATE,
     "cell 'gru': Broken.update returns [(4, 2)], not init_state's [(4, 5)]"),
])
def test_a_bad_registry_row_stops_the_params_stage_with_one_line(project_copy, edit, code, message):
    registry, module = project_copy / "surnames/registry.yaml", project_copy / "surnames/cells.py"
    registry.write_text(edit(registry.read_text()))
    module.write_text(module.read_text() + code)
    done = subprocess.run([sys.executable, "-m", "stages.params", "params.yaml"], cwd=project_copy,
                          env={**os.environ, "PYTHONPATH": str(project_copy)}, capture_output=True, text=True)
    assert done.returncode == 1 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
