"""dvc.yaml against the code: each stage's stages/*.py and surnames/*.py deps are exactly its entry
module and the modules it imports, transitively, so editing a module re-runs every stage that
runs it and no other."""
import ast
import shutil
from pathlib import Path

import pytest
import yaml

from surnames import cells, dvc_yaml, ladder, native, report
from surnames.errors import ProjectError
from tests.helpers import ROOT

CODE = ("stages.", "surnames.")
CELLS = tuple(cells.CELLS)
TRAINING = tuple(dvc_yaml.training_stage(cell) for cell in ladder.COURSE)
SCORING = tuple(dvc_yaml.scoring_stage(model) for model in (*ladder.COURSE, "baseline", "majority"))
LADDER = tuple(name for name in dvc_yaml.stage_names(ROOT / "dvc.yaml") if name.startswith("ladder@"))
REGISTRY = ladder.REGISTRY.relative_to(ROOT).as_posix()


def module_file(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def imported_modules(module: str) -> set[str]:
    """`module` and every stages.* or surnames.* module it imports, transitively, as repo-relative files."""
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
                # `from surnames import cells` names a module; `from surnames.data import Encoded` does not
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            todo += [name for name in names if name.startswith(CODE) and module_file(name).is_file()]
    files = {module_file(m).relative_to(ROOT).as_posix() for m in seen}
    return files.union(*(read for module, read in SOURCES_READ.items() if module in files))


# modules that read other files of the code at run time: the C sources that surnames/native.py
# compiles, the registry of cells that surnames/ladder.py reads, the report's templates
SOURCES_READ = {"surnames/native.py": {path.relative_to(ROOT).as_posix() for path in native.SOURCES},
                "surnames/ladder.py": {ladder.REGISTRY.relative_to(ROOT).as_posix()},
                "surnames/report.py": {report.TEMPLATES.relative_to(ROOT).as_posix()}}


def tracks_registry_rows(stage: str, dvc_file: Path) -> bool:
    """Whether the stage tracks rows of the registry as params (`surnames/registry.yaml: [...]`):
    it then need not depend on the whole file, so editing another row leaves it alone."""
    params = dvc_yaml.stage(stage, dvc_file).get("params") or []
    return any(isinstance(entry, dict) and REGISTRY in entry for entry in params)


def dep_problems(dvc_file: Path) -> list[str]:
    problems = []
    for stage in dvc_yaml.stage_names(dvc_file):
        declared = {dep for dep in dvc_yaml.deps(stage, dvc_file) if dep.startswith(("stages/", "surnames/"))}
        if tracks_registry_rows(stage, dvc_file):
            declared.add(REGISTRY)
        needed = imported_modules(dvc_yaml.entry_module(stage, dvc_file))
        problems += [f"{stage}: missing dep {dep}" for dep in sorted(needed - declared)]
        problems += [f"{stage}: needless dep {dep}" for dep in sorted(declared - needed)]
    return problems


def edited_copy(folder: Path, text: str) -> None:
    """dvc.yaml edited, in `folder` beside copies of params.yaml and the registry (its foreach stages read them)."""
    (folder / "dvc.yaml").write_text(text)
    shutil.copy(ROOT / "params.yaml", folder)
    (folder / "surnames").mkdir()
    shutil.copy(ladder.REGISTRY, folder / "surnames")


def test_every_stage_depends_on_exactly_the_modules_it_imports():
    assert dep_problems(ROOT / "dvc.yaml") == []


@pytest.mark.parametrize("line, stages", [
    # an anchor's line counts for every stage that uses it (train_*, score_*), a foreach or matrix
    # stage's for each of its stages (score@<cell>, ladder@<cell>-<lr>)
    ("      - surnames/kernels.py\n", {"params", *TRAINING, "baseline", "score_baseline", "score_majority", "evaluate",
                                     *LADDER, "matched"}),
    ("        - surnames/kernels.py\n", {*SCORING[:len(ladder.COURSE)]}),
    ("      - surnames/atomic.py\n", {"prepare", *TRAINING, "baseline", "score_baseline", "score_majority",
                                    "evaluate", *LADDER, "matched", "report"}),
    ("      - surnames/grid.py\n", {*LADDER, "matched"}),
])
def test_a_removed_dep_line_is_caught(tmp_path, line, stages):
    text = (ROOT / "dvc.yaml").read_text()
    lines = text.splitlines(keepends=True)
    assert line in lines
    edited_copy(tmp_path, "".join(kept for kept in lines if kept != line))  # whole lines: not the same one indented
    problems = dep_problems(tmp_path / "dvc.yaml")
    assert {p.split(":")[0] for p in problems} == stages
    assert all("missing dep " + line.strip().removeprefix("- ") in p for p in problems)


def test_an_import_not_in_the_deps_is_caught(tmp_path):
    text = (ROOT / "dvc.yaml").read_text().replace("      - surnames/dvc_yaml.py\n", "")
    edited_copy(tmp_path, text)
    assert dep_problems(tmp_path / "dvc.yaml") == ["report: missing dep surnames/dvc_yaml.py"]


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


def input_problems(dvc_file: Path) -> list[str]:
    """Paths a stage's command is given that another stage writes, but that are not its deps
    (DVC would then not re-run it when they change)."""
    written = {out: stage for stage in dvc_yaml.stage_names(dvc_file) for out in dvc_yaml.outs(stage, dvc_file)}
    problems = []
    for stage in dvc_yaml.stage_names(dvc_file):
        deps, outs = set(dvc_yaml.deps(stage, dvc_file)), set(dvc_yaml.outs(stage, dvc_file))
        for arg in dvc_yaml.module_args(stage, dvc_file):
            producers = {s for out, s in written.items() if out == arg or out.startswith(arg.rstrip("/") + "/")}
            if producers - {stage} and arg not in deps and arg not in outs:
                problems.append(f"{stage}: reads {arg} (written by {', '.join(sorted(producers))}) but does not "
                                "depend on it")
    return problems


def test_every_input_another_stage_writes_is_a_dep():
    assert input_problems(ROOT / "dvc.yaml") == []


def test_a_missing_model_dep_is_caught(tmp_path):
    text = (ROOT / "dvc.yaml").read_text()
    line = "        - data/prepared\n        - models/${item}\n"  # in score@<cell>'s deps
    assert text.count(line) == 1
    edited_copy(tmp_path, text.replace(line, "        - data/prepared\n"))
    assert input_problems(tmp_path / "dvc.yaml") == [
        f"{dvc_yaml.scoring_stage(cell)}: reads models/{cell} (written by {dvc_yaml.training_stage(cell)}) but does "
        "not depend on it" for cell in ladder.COURSE]


def test_every_trained_model_folder_is_a_published_artifact():
    """dvc.yaml's artifacts: one per training stage's model folder, a model with a description."""
    document = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    artifacts = document["artifacts"]
    trained = {dvc_yaml.cached_outs(stage, ROOT / "dvc.yaml")[0] for stage in (*TRAINING, "baseline")}  # not the grid
    assert {entry["path"] for entry in artifacts.values()} == trained
    for name, entry in artifacts.items():
        assert entry["path"] == f"models/{name}" and entry["type"] == "model" and entry["desc"].strip(), name


def test_dvc_lock_holds_only_stages_that_exist():
    """DVC keeps a removed stage's entry in dvc.lock; a stale one would claim outputs no stage makes."""
    locked = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    assert sorted(set(locked) - set(dvc_yaml.stage_names(ROOT / "dvc.yaml"))) == []
