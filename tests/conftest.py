import importlib
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from stages import dvc_yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAMES_DATA_DIR", ROOT.parent / "shared/data/names"))
DATA = DATA if DATA.is_absolute() else (ROOT / DATA).resolve()
# Two of the five folds, two processes: every code path of the default run, in seconds.
SMALL_TRAIN = {"iterations": 60, "eval_every": 20, "batch_size": 64, "threads": 1, "folds": [0, 1], "processes": 2}
SMALL_EVALUATE = {"threads": 1, "bootstrap_draws": 1000}


MISSING_DATA = f"the names data is not at {DATA}: set NAMES_DATA_DIR to a folder of the 18 <Language>.txt files"


@pytest.fixture(scope="session")
def names_dir() -> Path:
    """The raw names. Without them the tests that need them are skipped, and one test
    (tests/test_data.py::test_the_names_data_is_there) fails, naming NAMES_DATA_DIR."""
    if not DATA.is_dir():
        pytest.skip(MISSING_DATA)
    return DATA


@contextmanager
def inside(directory: Path, **env: str):
    """Run a block from `directory` with extra environment variables, as DVC runs a stage."""
    old_cwd, old_env = Path.cwd(), {key: os.environ.get(key) for key in env}
    os.chdir(directory)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for key, value in old_env.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def call_main(module: str, *argv: str) -> int:
    """A stage's main(argv) in-process, from the current directory; its exit status.
    Read what it printed with pytest's capsys."""
    main = importlib.import_module(f"stages.{module}").main
    try:
        main(list(argv))
    except SystemExit as stop:
        return stop.code
    return 0


def run_stage(module: str, *args: str, cwd: Path, env: dict | None = None, stdin: str | None = None):
    """Run `python -m stages.<module>` in a subprocess, as a user would, from `cwd`."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    return subprocess.run([sys.executable, "-m", f"stages.{module}", *args], cwd=cwd, env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=600)


def small_params(root: Path = ROOT) -> dict:
    """params.yaml with a training budget small enough for tests."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    for model in ("rnn", "lstm"):
        params[f"train_{model}"].update(SMALL_TRAIN)
    params["evaluate"].update(SMALL_EVALUATE)
    return params


def make_project(path: Path, params: dict) -> Path:
    """A directory laid out like the repo's root (manifest, dvc.yaml, params), without outputs."""
    (path / "data").mkdir(parents=True)
    shutil.copy(ROOT / "data/names.sha256", path / "data")
    shutil.copy(ROOT / "dvc.yaml", path)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run_pipeline_in_process(project: Path, names_dir: Path, stages=None) -> None:
    """Each stage's main() with the arguments dvc.yaml gives it, in dvc.yaml's order, from
    `project`: what `dvc repro` runs, without DVC and without a subprocess per stage."""
    with inside(project, NAMES_DATA_DIR=str(names_dir)):
        for stage in stages or dvc_yaml.stage_names():
            module = dvc_yaml.entry_module(stage).removeprefix("stages.")
            status = call_main(module, *dvc_yaml.module_args(stage))
            assert status == 0, f"stage {stage} exited with {status}"


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, names_dir) -> Path:
    """Every stage run once, in order, on a small budget."""
    project = make_project(tmp_path_factory.mktemp("small_run"), small_params())
    run_pipeline_in_process(project, names_dir)
    return project
