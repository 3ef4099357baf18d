"""The linter (ruff, pinned in requirements.txt; its rules and the 120-character line limit in
pyproject.toml) passes on every Python file of the repository."""
import subprocess
import sys

from tests.helpers import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
