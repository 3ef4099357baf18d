"""surnames/workers.run_jobs: results in order, errors raised as raised, and a dead worker ends
the run with one line naming its job, no other worker left running."""
import importlib
import os
import signal
import time

import pytest

from surnames.errors import ProjectError
from surnames.workers import WorkerTraceback, run_jobs


def square(value: int) -> int:
    return value * value


def fail(value: int) -> int:
    if value == 2:
        raise ProjectError(f"job {value} failed on purpose")
    return value


def die_or_sleep(action: str, pid_file: str) -> None:
    """`die`: once the sleeper has recorded its pid, kill this worker mid-run (as the OOM killer
    does); `sleep`: record the pid and wait."""
    if action == "die":
        deadline = time.monotonic() + 30
        while not os.path.exists(pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
    with open(pid_file, "w") as file:
        file.write(str(os.getpid()))
    time.sleep(120)


class Unloadable:
    """Pickles fine here, fails to load in the worker: an ImportError while unpickling its job."""

    def __reduce__(self):
        return importlib.import_module, ("no_such_module_for_the_worker",)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_results_come_back_in_the_jobs_order():
    assert run_jobs(square, [(n,) for n in range(5)], processes=2) == [0, 1, 4, 9, 16]


def test_a_job_s_error_is_raised_as_it_was_raised_with_the_worker_s_traceback():
    with pytest.raises(ProjectError, match="job 2 failed on purpose") as error:
        run_jobs(fail, [(2,), (3,)], processes=2)
    assert isinstance(error.value.__cause__, WorkerTraceback) and "in fail" in str(error.value.__cause__)


def unsendable(value: int):
    return lambda: value  # a lambda cannot be pickled back


def test_a_result_that_cannot_be_sent_back_is_one_line_naming_the_job():
    with pytest.raises(ProjectError) as error:
        run_jobs(unsendable, [(1,), (2,)], processes=2, names=["fold 0", "fold 1"])
    assert str(error.value).startswith("fold 0: its result cannot be sent back (") or \
        str(error.value).startswith("fold 1: its result cannot be sent back ("), error.value


def test_a_worker_killed_mid_run_ends_the_run_naming_its_fold_and_stops_the_others(tmp_path):
    pid_file = tmp_path / "sleeper.pid"
    started = time.monotonic()
    with pytest.raises(ProjectError) as error:
        run_jobs(die_or_sleep, [("sleep", str(pid_file)), ("die", str(pid_file))], processes=2,
                 names=["fold 0", "fold 1"])
    assert time.monotonic() - started < 60
    assert str(error.value).startswith("fold 1: its worker process died before returning (killed by SIGKILL")
    assert "\n" not in str(error.value)
    deadline = time.monotonic() + 10
    while pid_file.exists() and _alive(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid_file.exists() and not _alive(int(pid_file.read_text())), "the other fold's worker is still running"


def test_a_worker_that_cannot_load_its_job_ends_the_run_with_one_line(tmp_path):
    started = time.monotonic()
    with pytest.raises(ProjectError) as error:
        run_jobs(square, [(1,), (Unloadable(),)], processes=2, names=["fold 0", "fold 1"])
    assert time.monotonic() - started < 60
    assert str(error.value) == ("fold 1: its worker could not load the job (ModuleNotFoundError: No module named "
                                "'no_such_module_for_the_worker')")
