"""Two runs at once on shared cores: each run's wall time alone vs two copies started together.

    python -m benchmarks.concurrency [--repeats 3] [--variant-repeats 1] [--steps 1000]

Run it from the project root on an otherwise quiet machine (it warns when the load average
at start is above 0.5; about 6 minutes on 2 cores). Every run is its own process, timed from
start to exit (imports included):

- train_lstm stage: the real stage command from dvc.yaml (`python -m stages.train lstm
  data/prepared …`), its outputs in a temporary folder, never in the project's.
- course loop: the course report's one-name-per-step LSTM loop (benchmarks.train_speed's
  course_style_step) for --steps steps on fold 0's train names, at the params' threads.

"defaults" rows run params.yaml as it is with OMP_WAIT_POLICY unset (so the stages set
PASSIVE). The other rows run from a temporary folder holding a copy of params.yaml with
train_lstm.threads changed, and set OMP_WAIT_POLICY explicitly (ACTIVE: idle OpenMP threads
spin, as they do for a while by default). Each row gives the median over --repeats
(--variant-repeats for the other rows) of a run's time alone and of each of two runs started
at once, and their ratio. On 2 cores a run that fills both cores alone (the stage's 5
one-thread processes) should take 2x when two share them, a one-thread run 1x.
Goal for the defaults: ratio <= 2.5x.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from surnames import dvc_yaml
from surnames.params import available_cores, parse_yaml

ROOT = Path(__file__).resolve().parents[1]
GOAL = 2.5
# (workload, variant, train_lstm params changed (None: params.yaml as it is), OMP_WAIT_POLICY (None: unset))
ROWS = [
    ("train_lstm stage", "defaults", None, None),
    ("course loop", "defaults", None, None),
    ("course loop", "2 threads, ACTIVE", {"threads": 2}, "ACTIVE"),
    ("course loop", "2 threads, PASSIVE", {"threads": 2}, "PASSIVE"),
    ("course loop", "1 thread, ACTIVE", {"threads": 1}, "ACTIVE"),
]


def course_loop(prepared: Path, steps: int) -> None:
    """The child process of a course-loop run: `steps` one-name steps with train_lstm's params."""
    import torch

    from benchmarks.train_speed import COURSE_OPTIMIZERS, course_style_step
    from surnames import cells
    from surnames.alphabet import N_LETTERS
    from surnames.data import Encoded, Sampler, fold_name, read_categories, read_split
    from surnames.params import load_params, resolve_threads

    params = load_params("train_lstm")
    torch.set_num_threads(resolve_threads(params["threads"]))
    torch.manual_seed(0)
    categories = read_categories(prepared)
    encoded = Encoded(read_split(prepared / fold_name(0), "train", categories), categories)
    sampler = Sampler(encoded, "balanced", torch.Generator().manual_seed(0))
    model = cells.build("lstm", N_LETTERS, params["hidden_size"], len(categories))
    optimizer = COURSE_OPTIMIZERS[params["optimizer"]](model.parameters(), lr=params["lr"])
    for _ in range(steps):
        course_style_step(model, optimizer, encoded, int(sampler.draw(1)))


def command(workload: str, prepared: Path, out: Path, steps: int) -> list[str]:
    if workload == "course loop":
        return [sys.executable, "-m", "benchmarks.concurrency", "--course-loop", str(prepared), "--steps", str(steps)]
    model = dvc_yaml.module_args("train_lstm")[0]  # the stage's own cmd, its three outputs moved into `out`
    return [sys.executable, "-m", dvc_yaml.entry_module("train_lstm"), model, str(prepared),
            str(out / "models"), str(out / "curves"), str(out / "summary.json")]


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def cpu_busy(seconds: float = 2.0) -> float:
    """The share of all cores' time spent busy over the next `seconds` (Linux /proc/stat)."""
    def sample():
        values = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    total, idle = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    return 1 - (idle_after - idle) / max(total_after - total, 1)


def measure(workload: str, changes, policy, prepared: Path, steps: int, repeats: int, tmp: Path):
    """Lists of wall times: `repeats` runs alone, and 2 * `repeats` runs two at once."""
    cwd = ROOT
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    if changes:
        cwd = Path(tempfile.mkdtemp(dir=tmp))
        params = parse_yaml((ROOT / "params.yaml").read_text(), "params.yaml")
        params["train_lstm"].update(changes)
        (cwd / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    alone, together = [], []
    for _ in range(repeats):
        outs = [Path(tempfile.mkdtemp(dir=tmp)) for _ in range(3)]
        alone.append(timed(command(workload, prepared, outs[0], steps), cwd, env))
        with ThreadPoolExecutor(2) as pool:
            together += pool.map(lambda out: timed(command(workload, prepared, out, steps), cwd, env), outs[1:])
        for out in outs:
            shutil.rmtree(out)
    return alone, together


def table_row(workload: str, variant: str, alone: list[float], together: list[float]) -> tuple[str, float]:
    """One line of the table, and the ratio: median time of a run two at once / median time alone."""
    ratio = statistics.median(together) / statistics.median(alone)
    runs = f"alone {' '.join(f'{t:.1f}' for t in alone)} | two at once {' '.join(f'{t:.1f}' for t in together)}"
    return (f"{workload:17} {variant:20} {statistics.median(alone):8.1f} {statistics.median(together):8.1f} "
            f"{ratio:6.2f}x   {runs}"), ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant-repeats", type=int, default=1, help="repeats of the rows other than defaults")
    parser.add_argument("--steps", type=int, default=1000, help="one-name steps of a course-loop run")
    parser.add_argument("--course-loop", type=Path, metavar="PREPARED", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.course_loop:
        return course_loop(args.course_loop, args.steps)
    (prepared,) = set(dvc_yaml.outs("prepare")) & set(dvc_yaml.deps("train_lstm"))
    load = os.getloadavg()[0]
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"cores available: {available_cores()}; at start: {uptime}; CPU busy over 2 s: {cpu_busy():.0%}")
    if load > 0.5:
        print(f"WARNING: load average {load:.2f} > 0.5 at start: if the CPU was busy just now, timings are unreliable")
    print(f"repeats: {args.repeats} (defaults), {args.variant_repeats} (variants); course loop: {args.steps} steps; "
          f"wall times in s, medians, per run\n")
    print(f"{'workload':17} {'variant':20} {'alone':>8} {'two':>8} {'ratio':>7}   all runs")
    failed = []
    with tempfile.TemporaryDirectory(prefix="concurrency-") as tmp:
        for workload, variant, changes, policy in ROWS:
            repeats = args.repeats if variant == "defaults" else args.variant_repeats
            alone, together = measure(workload, changes, policy, (ROOT / prepared).resolve(), args.steps, repeats,
                                      Path(tmp))
            line, ratio = table_row(workload, variant, alone, together)
            print(line, flush=True)
            if variant == "defaults" and ratio > GOAL:
                failed.append(workload)
    print(f"\ngoal (defaults, ratio <= {GOAL}x): " + (f"NOT met for {', '.join(failed)}" if failed else "met"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
