"""The docs' publishing recipe, run as written: a fresh clone releases the LSTM, and a user with
no clone installs the package and predicts with the released models.

docs/experiments.md (Publishing a model) has two blocks after the `publish` marker: the
publisher's, from `git clone` to `make publish`, and the user's, from a new virtual environment
to `surnames-predict`. Each runs as one bash script (`set -e`), with only these stand-ins, for
a test that is offline and installs nothing:
- `<repository URL>` is a bare git origin holding the reproduced clone's history (no DVC
  cache), `<DVC remote URL>` a folder;
- make uses the session's virtual environment instead of creating one (MAKEFLAGS: VENV, STAMP);
- the user's environment sees the session's installed packages (a .pth file) and `pip install`
  takes its dependencies from there (--no-index --no-build-isolation); the package and its
  `surnames-predict` command still come from the git URL.
Before the recipe, `make publish` in a fresh clone with an empty cache must stop in one line
and tag nothing. Run with `-s` to see every command and its output."""
import hashlib
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import ROOT, Machine, assert_one_line

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MARKER = "<!-- publish: tests/test_artifacts.py runs the next block, then the one after it elsewhere -->"
NAMES = ("Nguyen", "Kobayashi")


def recipe_blocks() -> tuple[str, str]:
    """The publisher's block and the user's, as written in docs/experiments.md."""
    text = (ROOT / "docs/experiments.md").read_text()
    after = text[text.index(MARKER):]
    blocks = re.findall(r"```bash\n(.*?)```", after, flags=re.S)
    return blocks[0], blocks[1]


def run_script(machine: Machine, script: str, cwd: Path) -> str:
    """`script` in bash -e -x, in `cwd`, with the machine's environment: its commands and output."""
    cwd.mkdir()
    result = subprocess.run(["bash", "-e", "-x", "-c", script], cwd=cwd, env=machine.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=900)  # -x's lines among the output
    print(f"\n[{cwd.name}]\n{result.stdout}".rstrip())
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_publishing_recipe_releases_a_cell_that_a_user_installs_fetches_and_predicts_with(
        reproduced, tmp_path, names_dir):
    origin, storage = tmp_path / "origin.git", tmp_path / "storage"
    subprocess.run(["git", "clone", "-q", "--bare", str(reproduced.path), str(origin)], check=True)

    empty = Machine(tmp_path / "empty", names_dir, "empty clone")
    subprocess.run(["git", "clone", "-q", str(origin), str(empty.path)], check=True)
    empty.run("dvc", "remote", "add", "-d", "storage", str(storage))
    empty.commit("DVC remote")
    refused = empty.attempt(sys.executable, "-m", "tools.publish", "lstm", "1.0.0")
    assert_one_line(refused.stderr, refused.returncode, "publish: not in the DVC cache: ")
    assert refused.returncode == 1 and "make repro" in refused.stderr
    assert not empty.run("git", "tag") and not storage.exists()

    publisher, user = recipe_blocks()
    machine = Machine(tmp_path, names_dir, "publisher")
    machine.env["MAKEFLAGS"] = f"VENV={sys.prefix} STAMP="  # the session's venv, not a new one
    run_script(machine, publisher.replace("<repository URL>", str(origin)).replace("<DVC remote URL>", str(storage)),
               tmp_path / "publisher")
    clone = tmp_path / "publisher/names-rnn-lstm"
    assert "lstm@v1.0.0" in subprocess.run(["git", "tag"], cwd=origin, capture_output=True, text=True).stdout
    assert not subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
    released = digests(clone / "models/lstm")
    in_clone = Machine(clone, names_dir, "publisher").run(sys.executable, "-m", "surnames.predict", "--model", "lstm",
                                                          *NAMES)

    packages = sysconfig.get_paths()["purelib"]
    site = f"predict-env/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    offline = (user.replace("<repository URL>", f"file://{origin}")
               .replace("python3.11 -m venv predict-env",
                        f"{sys.executable} -m venv --without-pip predict-env && echo {packages} > {site}/session.pth")
               .replace("pip install", "python -m pip install --no-index --no-build-isolation"))
    assert offline.count("--no-index") == 1 and "session.pth" in offline
    output = run_script(machine, offline, tmp_path / "user")
    home = tmp_path / "user"
    assert (home / "predict-env/bin/surnames-predict").exists()
    assert (home / site / "surnames/predict.py").exists()  # installed from git, not read from a clone
    assert digests(home / "lstm") == released and len(released) == 2, (digests(home / "lstm"), released)
    assert output.splitlines()[-len(NAMES):] == in_clone.splitlines() and len(in_clone.splitlines()) == len(NAMES)

    outside = Machine(home, names_dir, "user")  # the docs' two other claims: --rev, and no tag, no artifact
    outside.run("dvc", "artifacts", "get", f"file://{origin}", "lstm", "--rev", "v1.0.0", "-o", "lstm-v1")
    assert digests(home / "lstm-v1") == released
    untagged = outside.attempt("dvc", "artifacts", "get", f"file://{origin}", "rnn", "-o", "rnn")
    assert untagged.returncode != 0 and "Unable to find artifact" in untagged.stdout + untagged.stderr
