import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAMES_DATA_DIR", ROOT.parent / "shared/data/names"))
DATA = DATA if DATA.is_absolute() else (ROOT / DATA).resolve()


@pytest.fixture(scope="session")
def names_dir() -> Path:
    assert DATA.is_dir(), f"tests need the names data: set NAMES_DATA_DIR (tried {DATA})"
    return DATA


def run_stage(module: str, *args: str, cwd: Path, env: dict | None = None, stdin: str | None = None):
    """Run `python -m stages.<module>` as a user would, from `cwd`."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    return subprocess.run([sys.executable, "-m", f"stages.{module}", *args], cwd=cwd, env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=600)


SMALL_TRAIN = {"iterations": 60, "eval_every": 20, "batch_size": 64, "threads": 1}


def small_params(root: Path = ROOT) -> dict:
    """params.yaml with a training budget small enough for tests."""
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())
    for model in ("rnn", "lstm"):
        params[f"train_{model}"].update(SMALL_TRAIN)
    params["evaluate"]["threads"] = 1
    return params


def make_project(path: Path, params: dict) -> Path:
    """A directory laid out like the repo's root, without any outputs."""
    import shutil

    import yaml

    (path / "data").mkdir(parents=True)
    shutil.copy(ROOT / "data/names.sha256", path / "data")
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, names_dir) -> Path:
    """Every stage run once, in order, through its CLI, on a small budget."""
    project = make_project(tmp_path_factory.mktemp("small_run"), small_params())
    for stage in (["prepare"], ["train", "rnn"], ["train", "lstm"], ["evaluate"], ["report"]):
        result = run_stage(*stage, cwd=project, env={"NAMES_DATA_DIR": str(names_dir)})
        assert result.returncode == 0, result.stderr
    return project
