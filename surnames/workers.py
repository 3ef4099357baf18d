"""Running independent jobs (one per fold) in worker processes."""
import multiprocessing
import multiprocessing.forkserver
import signal

from surnames.errors import ProjectError
from surnames.memory import keep_freed_memory
from surnames.params import load_params


def _start_worker():
    """Ctrl-C reaches the whole process group: the parent alone reports it (one line) and
    stops the workers, instead of each worker printing its own traceback. A worker is a
    new process: it sets up its memory as the entry point did (surnames/memory.py)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()


# A torch optimizer's constructor imports torch._dynamo (about 1.3 s here): once in the fork
# server rather than in each of the 5 workers sharing 2 cores (about 3 s of a stage).
OPTIMIZER_IMPORTS = ("torch._dynamo",)


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
    with context.Pool(min(processes, len(jobs)), initializer=_start_worker) as pool:
        return pool.starmap(function, jobs, chunksize=1)
