"""tools.publish (make publish): each refusal is one line and tags nothing; a release pushes the
data, then the branch and the tag. A small git + DVC project stands in for the pipeline (one
artifact, no stages); tests/test_artifacts.py runs the docs' whole recipe on the real one."""
import subprocess
import sys

import pytest

from tests.helpers import assert_one_line, call_main, inside

pytestmark = pytest.mark.slow  # a few DVC calls per case: about 2 s each


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def dvc(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], check=True)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A committed project with the artifact `lstm`, a default DVC remote and a bare origin."""
    for variable in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{variable}_NAME", "test")
        monkeypatch.setenv(f"GIT_{variable}_EMAIL", "test@example.com")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(tmp_path / "origin.git")], check=True)
    (tmp_path / "p").mkdir()
    with inside(tmp_path / "p") as path:
        git("init", "-q", "-b", "main")
        dvc("init", "-q")
        (path / "dvc.yaml").write_text("artifacts:\n  lstm:\n    path: models/lstm\n    type: model\n")
        dvc("remote", "add", "-q", "-d", "storage", str(tmp_path / "storage"))
        git("add", "-A")
        git("commit", "-qm", "project")
        git("remote", "add", "origin", str(tmp_path / "origin.git"))
        yield path


def refused(capsys, expected: str, *argv: str) -> None:
    status = call_main("tools.publish", *(argv or ("lstm", "1.0.0")))
    assert_one_line(capsys.readouterr().err, status, f"publish: {expected}")
    assert not git("tag")


def test_a_release_pushes_the_data_then_the_branch_and_the_tag(project, capsys):
    assert call_main("tools.publish", "lstm", "1.0.0") == 0
    assert "published lstm@v1.0.0" in capsys.readouterr().out
    assert git("tag") == "lstm@v1.0.0\n"
    assert git("ls-remote", "origin").count("refs/") == 3  # main, the tag and what it points to


def test_a_cell_that_is_no_artifact_or_a_version_that_is_not_semver_is_refused(project, capsys):
    refused(capsys, "'gru' is not an artifact of dvc.yaml; choose one of lstm", "gru", "1.0.0")
    refused(capsys, "version '1.0' is not X.Y.Z", "lstm", "1.0")


def test_a_dvc_yaml_that_cannot_be_read_is_refused(project, capsys):
    (project / "dvc.yaml").write_text("artifacts: [\n")
    refused(capsys, "cannot read the artifacts of dvc.yaml (while parsing a flow node")


def test_an_existing_tag_is_refused(project, capsys):
    git("tag", "-a", "lstm@v1.0.0", "-m", "earlier")
    status = call_main("tools.publish", "lstm", "1.0.0")
    assert_one_line(capsys.readouterr().err, status, "publish: the tag lstm@v1.0.0 exists already")


@pytest.mark.parametrize("change, expected", [
    ("python -m dvc remote modify storage url /elsewhere", ".dvc/config is not committed; commit the DVC remote"),
    ("echo '# changed' >> dvc.yaml", "the workspace differs from the commit (dvc.yaml); commit it"),
    ("git checkout -q --detach", "HEAD is not on a branch"),
    ("git remote remove origin", "git has no remote 'origin'"),
    ("python -m dvc remote default --unset && git commit -qam 'no remote'", ".dvc/config names no default DVC remote"),
])
def test_a_workspace_that_is_not_a_release_is_refused(project, capsys, change, expected):
    subprocess.run(change.replace("python", sys.executable), shell=True, check=True)
    refused(capsys, expected)


def test_a_push_that_leaves_files_off_the_remote_tags_nothing(project, capsys, monkeypatch):
    answers = iter([{"not_in_cache": []}, {"not_in_remote": ["models/lstm/"]}])  # before the push, after it
    monkeypatch.setattr("tools.publish.data_status", lambda: next(answers))
    refused(capsys, "dvc push left models/lstm/ off the DVC remote; nothing was tagged")


def test_a_failed_git_push_leaves_no_tag_behind(project, capsys, tmp_path):
    git("remote", "set-url", "origin", str(tmp_path / "missing.git"))
    status = call_main("tools.publish", "lstm", "1.0.0")
    assert_one_line(capsys.readouterr().err, status, "publish: git push failed")  # git's own lines go to fd 2
    assert not git("tag")
