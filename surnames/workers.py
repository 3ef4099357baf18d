"""Running independent jobs (one per fold) in worker processes."""
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback

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
    none of its clean-up (run_jobs terminating its workers), and the workers' parent, the fork server,
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
    """multiprocessing's resource tracker (a process started with the first pipe's lock)
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


def run_jobs(function, jobs: list[tuple], processes: int, preload: tuple[str, ...] = (),
             names: list[str] | None = None) -> list:
    """function(*job) for each job, in order; in up to `processes` worker processes when > 1.

    Workers are forked from a fresh fork server that has imported `function`'s module (and
    the modules in `preload`) once:
    not forked from this process (a fork of a process that has started OpenMP threads can
    hang), and not spawned (each spawned worker would import torch again, seconds each).
    One process per job, watched: an error in a job is raised here as it was raised there; a
    worker that dies (a signal, the out-of-memory killer, a job it cannot load) ends the run
    with one line naming its job (`names`, e.g. "fold 3") and the cause. Leaving, however it
    happens, terminates the other workers: no fold is left running or waited for."""
    names = names or [f"job {i}" for i in range(len(jobs))]
    if processes <= 1 or len(jobs) == 1:
        return [function(*job) for job in jobs]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([function.__module__, *preload])
    _quiet_resource_tracker()
    results, waiting, running = [None] * len(jobs), list(range(len(jobs))), {}
    try:
        while waiting or running:
            while waiting and len(running) < processes:
                index = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                payload = pickle.dumps((function, jobs[index]))
                process = context.Process(target=_worker, args=(os.getpid(), payload, send), daemon=True,
                                          name=names[index])
                process.start()
                send.close()  # the worker holds the only writing end: its death ends the pipe
                running[receive] = (index, process)
            for receive in multiprocessing.connection.wait(list(running)):
                index, process = running.pop(receive)
                results[index] = _result(receive, process, names[index])
    finally:
        _stop([process for _, process in running.values()])
    return results


def _worker(stage: int, payload: bytes, send) -> None:
    """In a worker: load the job, run it, send back ("ok", result), ("error", exception, traceback)
    or ("broken", what went wrong around the job)."""
    _start_worker(stage)
    try:
        function, job = pickle.loads(payload)
    except Exception as error:  # noqa: BLE001 -- a job that cannot load here is reported by its name
        send.send(("broken", f"its worker could not load the job ({_line(error)})"))
        return
    try:
        outcome = ("ok", function(*job))
    except Exception as error:  # noqa: BLE001 -- raised again in the stage, with this traceback
        outcome = ("error", error if _picklable(error) else ProjectError(_line(error)), traceback.format_exc())
    try:
        send.send(outcome)
    except Exception as error:  # noqa: BLE001 -- a result that cannot be pickled
        send.send(("broken", f"its result cannot be sent back ({_line(error)})"))


def _line(error: Exception) -> str:
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"


def _picklable(error: Exception) -> bool:
    try:
        pickle.loads(pickle.dumps(error))
        return True
    except Exception:  # noqa: BLE001
        return False


class WorkerTraceback(Exception):
    """The worker's traceback, chained to an error raised again in the stage (as multiprocessing.Pool does)."""


def _result(receive, process, name: str):
    """A finished worker's result, or its error raised here, or one line on how it died."""
    try:
        status, value, *trace = receive.recv()
    except (EOFError, OSError):  # the worker died before (or while) sending
        process.join(5)
        raise ProjectError(f"{name}: its worker process died before returning ({_death(process.exitcode)})") from None
    process.join()
    if status == "ok":
        return value
    if status == "broken":  # it could not load the job or send its result: name the job
        raise ProjectError(f"{name}: {value}")
    raise value from (WorkerTraceback(trace[0]) if trace and trace[0] else None)


def _death(code: int | None) -> str:
    if code is None:
        return "it did not exit"
    if code < 0:
        name = signal.Signals(-code).name
        hint = ": out of memory (the kernel's OOM killer), or kill -9" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}; its error, if it printed one, is above"


def _stop(processes: list) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(2)
        if process.is_alive():
            process.kill()
            process.join()
