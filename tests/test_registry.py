"""The registry of cells (surnames/registry.yaml) against everything that derives from it or
must list its rows: the cells' classes, the params schema and params.yaml, dvc.yaml's stages
and the lists that name every cell. A throwaway rung added to a copy of the project shows
that a rung is a registry row, its params and the dvc.yaml lines named here."""
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


def listed_after(words: list[str], flag: str) -> list[str]:
    """The arguments after `flag` up to the next --option."""
    start = words.index(flag) + 1
    end = next((i for i in range(start, len(words)) if words[i].startswith("--")), len(words))
    return words[start:end]


def problems(root: Path) -> list[str]:
    """What in root's dvc.yaml and params.yaml does not agree with root's registry, one line each."""
    rows = ladder.read_registry(root / "surnames/registry.yaml")
    dvc, params = root / "dvc.yaml", yaml.safe_load((root / "params.yaml").read_text())
    stages = dvc_yaml.stage_names(dvc)
    found = []
    for name, cell in rows.items():
        training = f"train@{name}" if cell.parent else f"train_{name}"
        wanted = {
            f"stage {training}": training in stages,
            f"stage score@{name}": f"score@{name}" in stages,
            f"params.yaml section train_{name}": f"train_{name}" in params,
            f"train_{name}.hidden_size in the params of budget@<lr>":
                all(f"train_{name}.hidden_size" in dvc_yaml.stage(s, dvc)["params"]
                    for s in stages if s.startswith("budget@")),
            f"train_{name} in report's params": f"train_{name}" in dvc_yaml.stage("report", dvc)["params"],
            f"artifacts entry {name} with path models/{name}":
                dvc_yaml.artifacts(dvc).get(name, {}).get("path") == f"models/{name}",
        }
        if cell.parent:  # the course cells have their own flags (--pair, --metrics)
            for stage, flag, path in (("evaluate", "--ladder", f"predictions/{name}.csv"),
                                      ("report", "--ladder", f"metrics/{name}.json")):
                wanted[f"{path} in {stage}'s {flag}"] = path in listed_after(dvc_yaml.module_args(stage, dvc), flag)
                wanted[f"{path} in {stage}'s deps"] = path in dvc_yaml.deps(stage, dvc)
        found += [f"{name}: dvc.yaml or params.yaml lacks {what}" for what, present in wanted.items() if not present]
    extra = {s.removeprefix("train_") for s in params if s.startswith("train_")} - set(rows)
    found += [f"params.yaml section train_{name} is not a cell of the registry" for name in sorted(extra)]
    return found


def test_the_project_agrees_with_its_registry():
    assert problems(ROOT) == []


def test_the_cells_classes_schema_and_labels_come_from_the_registry():
    rows = ladder.read_registry()
    assert ladder.RUNGS == tuple(rows) and set(cells.CELLS) == set(rows)
    assert ladder.ABLATIONS == tuple(n for n, c in rows.items() if c.parent)
    assert all(cells.CELLS[n] is cells.ARCHITECTURES[c.architecture] for n, c in rows.items())
    assert {s.removeprefix("train_") for s in SCHEMA if s.startswith("train_")} == set(rows)
    assert all(SCHEMA[f"train_{n}"]["hidden_size"].doc.startswith(c.label) for n, c in rows.items())
    assert [(p.model, p.against) for p in ladder.PAIRS[:len(rows) - 1]] == [(n, c.against) for n, c in rows.items()
                                                                           if c.against]


REGISTRY_TEXT = (ROOT / "surnames/registry.yaml").read_text()


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("against: rnn", "against: rn"), "tanh_rnn: against 'rn' is not a cell"),
    (lambda t: t.replace("    parent: lstm\n    against: wide_tanh_rnn\n    isolates: gates, forget gate held open",
                         "    parent: lstmm\n    against: wide_tanh_rnn\n    isolates: gates"),
     "lstm_forget_open: parent 'lstmm' is not a cell"),
    (lambda t: t.replace('    isolates: "non-linearity: hidden = tanh(i2h(combined))"\n', ""),
     "tanh_rnn: against without isolates"),
    (lambda t: t.replace("ablations: [tanh_rnn, wide_tanh_rnn,", "ablations: [wide_tanh_rnn, tanh_rnn,"),
     "ablations must list the cells with a parent, in the cells' order"),
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


# The throwaway rung: a tanh RNN at half the course RNN's width, compared with the course RNN.
ROW = """  narrow_tanh_rnn:
    label: tanh RNN (narrow)
    architecture: tanh_rnn
    parent: rnn
    against: rnn
    isolates: "width: the tanh RNN at half the hidden size"
"""
DVC_LINES = (  # (a line of dvc.yaml, the same line for the new rung)
    ("predictions/lstm_forget_open.csv predictions/lstm_output_open.csv\n",
     "predictions/lstm_forget_open.csv predictions/lstm_output_open.csv predictions/narrow_tanh_rnn.csv\n"),
    ("      - predictions/lstm_output_open.csv\n",
     "      - predictions/lstm_output_open.csv\n      - predictions/narrow_tanh_rnn.csv\n"),
    ("metrics/lstm_forget_open.json metrics/lstm_output_open.json\n",
     "metrics/lstm_forget_open.json metrics/lstm_output_open.json metrics/narrow_tanh_rnn.json\n"),
    ("      - metrics/lstm_output_open.json\n",
     "      - metrics/lstm_output_open.json\n      - metrics/narrow_tanh_rnn.json\n"),
    ("        - train_lstm_output_open.hidden_size\n",
     "        - train_lstm_output_open.hidden_size\n        - train_narrow_tanh_rnn.hidden_size\n"),
    ("      - train_lstm_output_open\n    outs:",
     "      - train_lstm_output_open\n      - train_narrow_tanh_rnn\n    outs:"),
    ("\nplots:\n", "  narrow_tanh_rnn:\n    path: models/narrow_tanh_rnn\n    type: model\n\nplots:\n"),
)


def add_row_and_params(root: Path) -> None:
    """The throwaway rung's row (above the wide tanh RNN) and its params: its parent's, at half the width."""
    registry = root / "surnames/registry.yaml"
    text = registry.read_text().replace("  wide_tanh_rnn:\n", ROW + "  wide_tanh_rnn:\n", 1)
    registry.write_text(text.replace("[tanh_rnn, wide_tanh_rnn,", "[tanh_rnn, narrow_tanh_rnn, wide_tanh_rnn,"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    section = {**params["train_rnn"], "hidden_size": params["train_rnn"]["hidden_size"] // 2}
    with (root / "params.yaml").open("a") as file:
        file.write("\n" + yaml.safe_dump({"train_narrow_tanh_rnn": section}, sort_keys=False))


def add_dvc_lines(root: Path) -> None:
    dvc = (root / "dvc.yaml").read_text()
    for old, new in DVC_LINES:
        assert dvc.count(old) == 1, old
        dvc = dvc.replace(old, new)
    (root / "dvc.yaml").write_text(dvc)


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


def test_a_rung_is_a_registry_row_its_params_and_the_lines_the_check_names(project_copy):
    add_row_and_params(project_copy)
    missing = problems(project_copy)
    assert all(line.startswith("narrow_tanh_rnn: dvc.yaml or params.yaml lacks") for line in missing), missing
    assert len(missing) == 7, missing  # one per line of DVC_LINES: DVC derives the stages themselves
    add_dvc_lines(project_copy)
    assert problems(project_copy) == []


def test_a_throwaway_rung_gets_its_stages_schema_and_place_on_the_ladder(project_copy):
    add_row_and_params(project_copy)
    add_dvc_lines(project_copy)
    env = {**os.environ, "PYTHONPATH": str(project_copy)}

    def run(*command: str) -> str:
        done = subprocess.run(command, cwd=project_copy, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    stages = run("dvc", "stage", "list", "--name-only").split()
    assert {"train@narrow_tanh_rnn", "score@narrow_tanh_rnn"} <= set(stages)
    run(sys.executable, "-m", "stages.params", "params.yaml")
    derived = run(sys.executable, "-c", "from surnames import cells, ladder, params; "
                  "print(ladder.RUNGS[2], ladder.LABELS['narrow_tanh_rnn'], cells.CELLS['narrow_tanh_rnn'].__name__, "
                  "'train_narrow_tanh_rnn' in params.SCHEMA, ladder.PAIRS[1])")
    assert derived.startswith("narrow_tanh_rnn tanh RNN (narrow) TanhRNN True Pair(model='narrow_tanh_rnn', "
                              "against='rnn'"), derived
    assert dvc_yaml.module_args("score@narrow_tanh_rnn", project_copy / "dvc.yaml")[0] == "narrow_tanh_rnn"
    assert "models/narrow_tanh_rnn" in dvc_yaml.outs("train@narrow_tanh_rnn", project_copy / "dvc.yaml")
