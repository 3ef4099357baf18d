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
