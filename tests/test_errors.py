"""The one-line failures of stages.errors.cli: a stage interrupted (Ctrl-C) or killed (SIGTERM)
while its fold workers train says so in one line, keeps its previous outputs and leaves no
temporary file or worker behind."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from surnames.errors import ProjectError, cli
from tests.helpers import RNN_ARGS, ROOT, assert_one_line, call_main, inside, set_rnn_param


def session_processes(session: int) -> list[str]:
    """The running (not zombie) processes of a session: `ps` lines."""
    listed = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-s", str(session)], capture_output=True, text=True)
    return [line for line in listed.stdout.splitlines() if "Z" not in line.split()[1]]


def started_workers(session: int) -> int:
    """Fold workers (the fork server's children) that have started their job, which first
    ignores SIGINT (surnames/workers.py): before that a worker is still starting, and a signal to the stage then can
    make it print the traceback of its interrupted start-up (docs/errors.md: a known gap)."""
    return sum(ignores_sigint(pid) for pid in worker_pids(session))


def worker_pids(session: int) -> list[int]:
    """The session's running processes whose parent is the stage's child, the fork server."""
    listed = subprocess.run(["ps", "-o", "pid=,ppid=,stat=", "-s", str(session)], capture_output=True, text=True)
    rows = [line.split() for line in listed.stdout.splitlines()]
    parents = {int(pid): int(parent) for pid, parent, _ in rows}
    return [int(pid) for pid, parent, stat in rows
            if int(parent) in parents and parents[int(parent)] == session and "Z" not in stat]


def running(pid: int) -> bool:
    """The process exists and is no zombie."""
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False


def ignores_sigint(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:   # it has exited
        return False
    ignored = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(ignored & (1 << (signal.SIGINT - 1)))


def wait_for(condition, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("signum, status, message", [(signal.SIGINT, 130, "error: interrupted"),
                                                     (signal.SIGTERM, 143, "error: terminated")])
def test_a_stopped_training_is_one_line_and_keeps_the_previous_outputs(project, signum, status, message):
    (project / "metrics").mkdir()
    (project / "metrics/train_rnn.json").write_text('{"old": true}\n')
    set_rnn_param(project, iterations=100000, processes=2)
    stage = subprocess.Popen([sys.executable, "-m", "stages.train", *RNN_ARGS], cwd=project, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    assert wait_for(lambda: started_workers(stage.pid) == 2), session_processes(stage.pid)  # both folds train
    # Ctrl-C reaches the whole process group (workers included); `kill` only the parent
    os.killpg(stage.pid, signum) if signum == signal.SIGINT else stage.send_signal(signum)
    _, err = stage.communicate(timeout=60)
    assert stage.returncode == status and err == message + "\n", err
    assert json.loads((project / "metrics/train_rnn.json").read_text()) == {"old": True}
    assert not (project / "models/rnn").exists() and not (project / "plots/curves/rnn").exists()
    leftovers = [p for p in project.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []
    # run_jobs has terminated its workers on the way out: every worker exits (zombies have exited too)
    assert wait_for(lambda: session_processes(stage.pid) == []), session_processes(stage.pid)


def test_a_killed_training_leaves_no_worker_running(project):
    """kill -9 of the stage runs none of its clean-up: every fold worker still exits within
    2 s (surnames/workers.py), the rest of the stage's processes soon after, and nothing more
    is printed (no worker traceback)."""
    set_rnn_param(project, iterations=100000, processes=2)
    stage = subprocess.Popen([sys.executable, "-m", "stages.train", *RNN_ARGS], cwd=project, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    assert wait_for(lambda: started_workers(stage.pid) == 2), session_processes(stage.pid)  # both folds train
    workers = worker_pids(stage.pid)  # now: once the stage is gone, the fork server is init's child
    stage.kill()
    stage.wait(timeout=10)
    assert wait_for(lambda: not any(running(pid) for pid in workers), timeout_s=2), session_processes(stage.pid)
    assert wait_for(lambda: session_processes(stage.pid) == [], timeout_s=30), session_processes(stage.pid)
    assert stage.stderr.read() == ""


def test_an_os_error_is_one_line(capsys):
    @cli
    def main(argv):
        raise PermissionError(13, "Permission denied", "metrics/rnn.json")

    with pytest.raises(SystemExit) as stop:
        main([])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and err == "error: cannot access metrics/rnn.json: Permission denied\n"


def test_a_project_error_is_one_line(capsys):
    @cli
    def main(argv):
        raise ProjectError("params.yaml:3:9: invalid YAML: expected ',' or ']'")

    with pytest.raises(SystemExit) as stop:
        main([])
    assert_one_line(capsys.readouterr().err, stop.value.code, "params.yaml:3:9: invalid YAML")


def test_yaml_in_params_is_checked_by_every_stage(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("prepare:\n  seed: [0\n")
    with inside(tmp_path):
        assert call_main("prepare", "m", "r", "p", "s") == 1
    err = capsys.readouterr().err
    assert_one_line(err, 1, "params.yaml:")
    assert "invalid YAML" in err


@pytest.mark.parametrize("signum, status, message", [(signal.SIGINT, 130, "error: interrupted"),
                                                     (signal.SIGTERM, 143, "error: terminated")])
def test_a_stage_stopped_while_it_imports_is_one_line(tmp_path, signum, status, message):
    stage = subprocess.Popen([sys.executable, "-m", "stages.train", "rnn", "p", "m", "c", "s.json"], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{stage.pid}/maps")
    deadline = time.monotonic() + 30
    while "torch" not in maps.read_text() and time.monotonic() < deadline:  # stages imported, torch loading
        time.sleep(0.02)
    stage.send_signal(signum)
    _, err = stage.communicate(timeout=60)
    assert stage.returncode == status and err == message + "\n", err


def test_a_usage_error_is_one_line(capsys):
    status = call_main("train", "rnn", "--bogus")
    err = capsys.readouterr().err
    assert_one_line(err, status, "python -m stages.train: ", code=2)
    assert "(see --help)" in err
