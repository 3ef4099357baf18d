"""A released cell is fetched with `dvc artifacts get` and predicts as in its project.

Repository A (a copy of the session's reproduced clone) gets a local DVC remote, pushes its
models, and releases the LSTM with the tag `lstm@v1.0.0` (docs/experiments.md, Publishing a
cell). Its git history goes to a bare `origin`, which has no DVC cache: from a folder that is no
clone, `dvc artifacts get <origin> lstm` can only get the files from the remote. They must be
byte-identical, and `predict --model-path` on them must print what `predict` prints in A.
Run with `-s` to see every command."""
import subprocess
import sys

import pytest

from tests.helpers import Machine

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
NAMES = ("Nguyen", "Kobayashi", "Schmidt", "O'Brien")


def test_a_released_lstm_is_fetched_byte_identical_and_predicts_the_same(reproduced, tmp_path, names_dir):
    a = Machine.copy_of(reproduced, tmp_path / "a")
    a.run("dvc", "remote", "add", "-d", "storage", str(tmp_path / "storage"))
    a.commit("a local DVC remote")
    a.run("dvc", "push")
    a.run("git", "tag", "-a", "lstm@v1.0.0", "-m", "Release lstm v1.0.0")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(a.path), str(origin)], check=True)
    assert not (origin / ".dvc").exists()

    outside = Machine(tmp_path / "elsewhere", names_dir, "outside")
    outside.path.mkdir()
    untagged = outside.attempt("dvc", "artifacts", "get", str(origin), "rnn", "-o", "rnn")
    assert untagged.returncode != 0 and "Unable to find artifact" in untagged.stdout + untagged.stderr
    outside.run("dvc", "artifacts", "get", str(origin), "lstm", "-o", "lstm")
    a.run("sha256sum", *sorted(a.sha256("models/lstm/*")))  # shown with -s, beside the fetched files
    outside.run("sha256sum", *sorted(outside.sha256("lstm/*")))
    fetched = {name.split("/")[-1]: digest for name, digest in outside.sha256("lstm/*").items()}
    released = {name.split("/")[-1]: digest for name, digest in a.sha256("models/lstm/*").items()}
    assert fetched == released and len(fetched) == 2, (fetched, released)

    in_a = a.run(sys.executable, "-m", "surnames.predict", "--model", "lstm", *NAMES)
    outside.env["PYTHONPATH"] = str(a.path)  # the package, not the project: predict reads no dvc.yaml here
    there = outside.run(sys.executable, "-m", "surnames.predict", "--model", "lstm", "--model-path", "lstm", *NAMES)
    assert there == in_a and len(there.splitlines()) == len(NAMES)
