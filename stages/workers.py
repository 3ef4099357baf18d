"""Running independent jobs (one per fold) in worker processes."""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def run_jobs(function, jobs: list[tuple], processes: int) -> list:
    """function(*job) for each job, in order; in `processes` worker processes when > 1.

    Workers are forked from a fresh fork server that has imported `function`'s module once:
    not forked from this process (a fork of a process that has started OpenMP threads can
    hang), and not spawned (each spawned worker would import torch again, seconds each)."""
    if processes == 1 or len(jobs) == 1:
        return [function(*job) for job in jobs]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([function.__module__])
    with ProcessPoolExecutor(min(processes, len(jobs)), mp_context=context) as pool:
        return [future.result() for future in [pool.submit(function, *job) for job in jobs]]
