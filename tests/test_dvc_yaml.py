"""dvc.yaml against the code: each stage's stages/*.py deps are exactly the modules its entry
module imports, transitively, so editing a module re-runs every stage that runs it and no other."""
import ast
from pathlib import Path

import pytest

from stages import dvc_yaml
from stages.errors import ProjectError
from tests.conftest import ROOT


def module_file(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def imported_modules(module: str) -> set[str]:
    """`module` and every stages.* module it imports, transitively, as repo-relative files."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for node in ast.walk(ast.parse(module_file(current).read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                # `from stages import models` names a module; `from stages.data import Encoded` does not
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            todo += [name for name in names if name.startswith("stages.") and module_file(name).is_file()]
    return {module_file(m).relative_to(ROOT).as_posix() for m in seen}


def dep_problems(dvc_file: Path) -> list[str]:
    problems = []
    for stage in dvc_yaml.stage_names(dvc_file):
        declared = {dep for dep in dvc_yaml.deps(stage, dvc_file) if dep.startswith("stages/")}
        needed = imported_modules(dvc_yaml.entry_module(stage, dvc_file))
        problems += [f"{stage}: missing dep {dep}" for dep in sorted(needed - declared)]
        problems += [f"{stage}: needless dep {dep}" for dep in sorted(declared - needed)]
    return problems


def test_every_stage_depends_on_exactly_the_modules_it_imports():
    assert dep_problems(ROOT / "dvc.yaml") == []


@pytest.mark.parametrize("line, stages", [
    ("      - stages/kernels.py\n", {"train_rnn", "train_lstm", "baseline", "evaluate"}),  # train's anchor too
    ("      - stages/atomic.py\n", {"prepare", "train_rnn", "train_lstm", "baseline", "evaluate", "report"}),
])
def test_a_removed_dep_line_is_caught(tmp_path, line, stages):
    text = (ROOT / "dvc.yaml").read_text()
    assert line in text
    (tmp_path / "dvc.yaml").write_text(text.replace(line, ""))
    problems = dep_problems(tmp_path / "dvc.yaml")
    assert {p.split(":")[0] for p in problems} == stages
    assert all("missing dep " + line.strip().removeprefix("- ") in p for p in problems)


def test_an_import_not_in_the_deps_is_caught(tmp_path):
    text = (ROOT / "dvc.yaml").read_text().replace("      - stages/dvc_yaml.py\n", "")
    (tmp_path / "dvc.yaml").write_text(text)
    assert dep_problems(tmp_path / "dvc.yaml") == ["report: missing dep stages/dvc_yaml.py"]


def test_lookups():
    assert dvc_yaml.stage_names(ROOT / "dvc.yaml")[:2] == ["params", "prepare"]
    assert dvc_yaml.entry_module("train_lstm", ROOT / "dvc.yaml") == "stages.train"
    assert dvc_yaml.outs("train_lstm", ROOT / "dvc.yaml") == ["models/lstm", "plots/curves/lstm",
                                                               "metrics/train_lstm.json"]
    assert dvc_yaml.cached_outs("train_lstm", ROOT / "dvc.yaml") == ["models/lstm"]
    assert dvc_yaml.module_args("train_rnn", ROOT / "dvc.yaml")[0] == "rnn"


def test_a_missing_stage_or_file_is_one_clear_error(tmp_path):
    with pytest.raises(ProjectError, match="has no stage 'train_gru'"):
        dvc_yaml.stage("train_gru", ROOT / "dvc.yaml")
    with pytest.raises(ProjectError, match="cannot read the stages of .*dvc.yaml"):
        dvc_yaml.stage("prepare", tmp_path / "dvc.yaml")
