"""The Makefile's set-up: it refuses a Python for which the pinned torch has no CPU wheel."""
import shutil
import subprocess
import sys

from tests.conftest import ROOT

FAKE_PYTHON = """#!/bin/sh
[ "$1" = "-V" ] && { echo "Python 3.13.1"; exit 0; }
exit 1
"""


def make(directory, *args):
    return subprocess.run(["make", "-s", "-C", str(directory), *args], capture_output=True, text=True, timeout=120)


def test_a_python_without_the_cpu_wheel_stops_make_before_any_install(tmp_path):
    for name in ("Makefile", "requirements.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    fake = tmp_path / "python3.13"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    result = make(tmp_path, "test", f"PYTHON={fake}")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode != 0 and len(errors) == 1, result.stderr
    assert "Python 3.13.1" in errors[0] and "needs Python 3.11" in errors[0]
    assert not (tmp_path / ".venv").exists()


def test_python_3_11_passes_the_check(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    result = make(tmp_path, "check-python", f"PYTHON={sys.executable}")
    assert result.returncode == (0 if sys.version_info[:2] == (3, 11) else 2), result.stderr
