"""The Makefile's set-up: it refuses a Python for which the pinned torch has no CPU wheel, and
makes sure the browser test has its chromium."""
import shutil
import subprocess
import sys

from tests.helpers import ROOT

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


def test_a_missing_python_is_one_line_of_ours(tmp_path):
    copy_makefile(tmp_path)
    result = make(tmp_path, "check-python", "PYTHON=python3.99")
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make")]  # make adds "*** Error 1"
    assert result.returncode != 0 and ours == [
        "error: python3.99 is missing; the pinned torch==2.13.0 CPU build needs Python 3.11: "
        "run make PYTHON=python3.11 …"], result.stderr


def copy_makefile(tmp_path):
    for name in ("Makefile", "requirements.txt"):
        shutil.copy(ROOT / name, tmp_path / name)


def test_without_chromium_and_root_make_test_stops_with_one_line_naming_the_command(tmp_path):
    copy_makefile(tmp_path)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/id").write_text("#!/bin/sh\necho 1000\n")  # not root: nothing may be installed
    (tmp_path / "bin/id").chmod(0o755)
    result = subprocess.run(["make", "-s", "-C", str(tmp_path), "browser", "CHROMIUM=no-such-chromium"],
                            env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and result.stderr.splitlines()[0] == (
        "error: the browser test needs Debian's chromium: run 'sudo apt-get install -y chromium', then make test")


def test_with_chromium_present_nothing_is_installed(tmp_path):
    copy_makefile(tmp_path)
    result = make(tmp_path, "browser", "CHROMIUM=sh")  # any command that exists
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
