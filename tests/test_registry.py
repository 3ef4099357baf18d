"""The registry of cells (surnames/registry.yaml) against everything that derives from it or
must list its rows: the cells' classes, the params schema and params.yaml, dvc.yaml's stages
and plots. A throwaway cell added to a copy of the project shows that a cell is a registry row
and its hidden size, and that no list in dvc.yaml needs an edit but the plots' y-lists, which
the check here names."""
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
    for plot in yaml.safe_load(dvc.read_text())["plots"]:
        for title, spec in plot.items():
            y = spec.get("y") if isinstance(spec, dict) else None
            for path, columns in y.items() if isinstance(y, dict) else ():
                if path.startswith("plots/budgets/") and columns != names:
                    found.append(f"dvc.yaml plot '{title}': y of {path} must list the registry's cells in order")
    return found


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
    assert all(cells.CELLS[n] is cells.ARCHITECTURES[c.architecture] for n, c in registry.cells.items())
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
    architecture: tanh_rnn
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


def add_plot_columns(root: Path) -> None:
    dvc = (root / "dvc.yaml").read_text()
    old = "[rnn, tanh_rnn, wide_tanh_rnn,"
    assert dvc.count(old) == 3
    (root / "dvc.yaml").write_text(dvc.replace(old, "[rnn, tanh_rnn, narrow_tanh_rnn, wide_tanh_rnn,"))


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
    missing = problems(project_copy)
    assert len(missing) == 3 and all("must list the registry's cells" in line for line in missing), missing
    add_plot_columns(project_copy)
    assert problems(project_copy) == []


def test_a_throwaway_cell_gets_its_stages_schema_and_step(project_copy):
    add_row_and_params(project_copy)
    add_plot_columns(project_copy)
    env = {**os.environ, "PYTHONPATH": str(project_copy)}

    def run(*command: str) -> str:
        done = subprocess.run(command, cwd=project_copy, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    stages = run("dvc", "stage", "list", "--name-only").split()
    assert {"ladder@narrow_tanh_rnn-0.003", "ladder@narrow_tanh_rnn-0.01"} <= set(stages)
    run(sys.executable, "-m", "stages.params", "params.yaml")
    derived = run(sys.executable, "-c", "from surnames import cells, ladder; "
                  "print(ladder.RUNGS[2], ladder.LABELS['narrow_tanh_rnn'], cells.CELLS['narrow_tanh_rnn'].__name__, "
                  "ladder.STEPS[0].name)")
    assert derived.split() == ["narrow_tanh_rnn", "tanh", "RNN", "(narrow)", "TanhRNN", "width"], derived
    assert dvc_yaml.module_args("ladder@narrow_tanh_rnn-0.01", project_copy / "dvc.yaml")[:2] == [
        "narrow_tanh_rnn", "0.01"]
