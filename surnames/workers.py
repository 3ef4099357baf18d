"""Running independent jobs (one per fold) in worker processes."""
import multiprocessing
import multiprocessing.forkserver
import os
import select
import signal
import sys
import threading
import time

from surnames.errors import ProjectError
from surnames.memory import keep_freed_memory
from surnames.params import load_params


def _start_worker(stage: int):
    """Ctrl-C reaches the whole process group: the parent alone reports it (one line) and
    stops the workers, instead of each worker printing its own traceback. A worker is a
    new process: it sets up its memory as the entry point did (surnames/memory.py), and
    ends with its stage (_end_with)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with(stage)
    keep_freed_memory()


def _end_with(stage: int) -> None:
    """Exit at once when process `stage` ends, however it ends: a `kill -9` of the stage runs
    none of its clean-up (the pool's terminate()), and the workers' parent, the fork server,
    outlives it by seconds of interpreter teardown. A thread waits on the stage's pidfd
    (Linux), or checks it every 0.2 s elsewhere; the worker then leaves without a word."""
    try:
        handle = os.pidfd_open(stage)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd here: poll
        handle = None

    def wait():
        if handle is not None:
            select.select([handle], [], [])
        else:
            while _alive(stage):
                time.sleep(0.2)
        os._exit(1)
    threading.Thread(target=wait, name="end-with-stage", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _quiet_resource_tracker() -> None:
    """multiprocessing's resource tracker (a process started with the pool's first lock)
    removes the locks' semaphores of a stage killed with kill -9, as it should, and warns of
    them in CPython's words after the stage's error; its command line takes our filters."""
    if "ignore:resource_tracker:UserWarning" not in sys.warnoptions:
        sys.warnoptions.append("ignore:resource_tracker:UserWarning")


def start_fork_server(section: str, preload: tuple[str, ...]) -> None:
    """When params.yaml's `section` trains several folds in processes, start the fork server
    that run_jobs will use now, importing `preload`: a training stage calls this before it
    imports torch, so that the two import at once on 2 cores (about 2 s of each stage).
    Bad params are left for the stage to report."""
    try:
        params = load_params(section)
    except ProjectError:
        return
    if params["processes"] > 1 and len(params["folds"]) > 1:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
        _quiet_resource_tracker()
        multiprocessing.forkserver.ensure_running()


def run_jobs(function, jobs: list[tuple], processes: int, preload: tuple[str, ...] = ()) -> list:
    """function(*job) for each job, in order; in `processes` worker processes when > 1.

    Workers are forked from a fresh fork server that has imported `function`'s module (and
    the modules in `preload`) once:
    not forked from this process (a fork of a process that has started OpenMP threads can
    hang), and not spawned (each spawned worker would import torch again, seconds each).
    Leaving the pool terminates the workers, so a failure, Ctrl-C or kill of the parent
    never waits for (or leaves behind) running folds."""
    if processes == 1 or len(jobs) == 1:
        return [function(*job) for job in jobs]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([function.__module__, *preload])
    _quiet_resource_tracker()
    with context.Pool(min(processes, len(jobs)), initializer=_start_worker, initargs=(os.getpid(),)) as pool:
        return pool.starmap(function, jobs, chunksize=1)
