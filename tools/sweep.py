"""make sweep: a queued DVC grid of training options per course cell, selected on val names.

1. Queues one `dvc exp run --queue` per cell: the model's defaults with one option changed
   (the training options of params.yaml, hidden size, lr), training fold 0 only, and runs the
   queue (`dvc queue start`, one job at a time: each job already uses both cores).
2. Prints the cells' fold-0 **val** figures (the kept checkpoint's, `kept_mean` in
   metrics/train_<model>.json) and picks the best cell per model by val balanced accuracy.
3. Runs each picked cell on all folds (`dvc exp run --temp -n best-<model>`, leaving the
   workspace as it was) and prints its **held-out** figures beside the n-gram baseline's.

Each queued or temp experiment runs in a fresh copy and re-runs every stage whose outputs
include `cache: false` files (the metrics and plots kept in git): DVC's run cache does not
restore those.

Test names never take part in the choice. Run after `make repro` from the project's root.
"""
import argparse
import json
import subprocess
import sys
import time

from surnames.params import read_params

OPTIONS = {  # one factor at a time, from the defaults in params.yaml
    "defaults": {},
    "loss-balanced": {"loss_weights": "balanced"},
    "loss-balanced-natural": {"loss_weights": "balanced", "sampler": "natural"},
    "keep-best": {"keep": "best"},
    "dropout-0.3": {"dropout": 0.3},
    "weight-decay-0.01": {"weight_decay": 0.01},
    "cosine": {"lr_schedule": "cosine"},
    "hidden-64": {"hidden_size": 64},
    "half-lr": {"lr": None},  # filled in: half the default lr
}
VAL_KEYS = ("val_accuracy", "val_balanced_accuracy", "val_loss")
TEST_KEYS = ("accuracy", "balanced_accuracy", "macro_f1")


def dvc(*args: str, capture: bool = False) -> str:
    result = subprocess.run(["dvc", *args], capture_output=capture, text=True)
    if result.returncode != 0:
        sys.exit(f"error: dvc {' '.join(args)} failed{': ' + result.stderr.strip() if capture else ''}")
    return result.stdout if capture else ""


def cells(params: dict) -> dict[str, dict]:
    """{experiment name: {param: value}} for every model and option."""
    grid = {}
    for model in ("rnn", "lstm"):
        section = f"train_{model}"
        for option, changes in OPTIONS.items():
            changes = {k: (params[section]["lr"] / 2 if v is None else v) for k, v in changes.items()}
            grid[f"sweep-{model}-{option}"] = {f"{section}.{k}": v for k, v in {**changes, "folds": [0]}.items()}
    return grid


def overrides(changes: dict) -> list[str]:
    return [arg for key, value in changes.items() for arg in ("-S", f"{key}={json.dumps(value)}")]


def experiments() -> dict[str, dict]:
    """{experiment name: its data (params and metrics)} from dvc exp show --json, over all
    commits (a sweep queued before the last commit is based on an earlier one)."""
    found = {}
    for commit in json.loads(dvc("exp", "show", "--json", "--all-commits", capture=True)):
        for experiment in commit.get("experiments") or []:
            for revision in experiment.get("revs", []):
                if revision.get("name") and revision.get("data"):
                    found[revision["name"]] = revision["data"]
    return found


def metric(data: dict, path: str, *keys: str):
    value = data["metrics"][path]["data"]
    for key in keys:
        value = value[key]
    return value


def wait_for_queue() -> None:
    """Until no task is queued or running. A worker that has died with tasks left (DVC's
    file-system broker can fail to read a message and the worker then exits) is restarted."""
    while True:
        status = dvc("queue", "status", capture=True)
        if not any(word in status for word in ("Queued", "Running")):
            return
        if "Running" not in status and "0 active" in status:
            dvc("queue", "start", "-j", "1")
        time.sleep(20)


def val_table(grid: dict, found: dict) -> dict[str, tuple[str, float]]:
    """Print the val rows; return {model: (best experiment, its val balanced accuracy)}."""
    best = {}
    print("| cell | changed | val accuracy | val balanced accuracy | val loss |\n|---|---|---|---|---|")
    for name, changes in grid.items():
        model = name.split("-")[1]
        if f"metrics/train_{model}.json" not in (found.get(name) or {}).get("metrics", {}):
            print(f"| {name} | (failed: see dvc queue logs) | | | |")
            continue
        kept = metric(found[name], f"metrics/train_{model}.json", "kept_mean")
        shown = ", ".join(f"{k.split('.')[1]}={v}" for k, v in changes.items() if not k.endswith(".folds")) or "—"
        print(f"| {name} | {shown} | " + " | ".join(f"{kept[k]:.3f}" for k in VAL_KEYS) + " |")
        if model not in best or kept["val_balanced_accuracy"] > best[model][1]:
            best[model] = (name, kept["val_balanced_accuracy"])
    return best


def with_intervals(scores: dict) -> str:
    return " | ".join(f"{scores[k]['value']:.3f} [{scores[k]['low']:.3f}, {scores[k]['high']:.3f}]" for k in TEST_KEYS)


def test_table(found: dict, chosen: dict[str, str]) -> None:
    print("\n| model | cell | held-out accuracy | balanced accuracy | macro F1 |\n|---|---|---|---|---|")
    for model, name in chosen.items():
        scores = metric(found[f"best-{model}"], f"metrics/{model}.json", "test")
        print(f"| {model.upper()} | {name} | {with_intervals(scores)} |")
    baseline = metric(found[f"best-{next(iter(chosen))}"], "metrics/baseline.json", "test")
    print(f"| n-gram baseline | params.yaml | {with_intervals(baseline)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-queue", action="store_true",
                        help="queue nothing new: finish the queued cells and reuse those already run")
    args = parser.parse_args()
    grid = cells(read_params())  # checked, and read as DVC reads it
    if not args.skip_queue:
        for name, changes in grid.items():
            dvc("exp", "run", "--queue", "-f", "-n", name, *overrides(changes))
        dvc("queue", "start", "-j", "1")
    wait_for_queue()
    best = val_table(grid, experiments())
    chosen = {}
    for model, (name, _) in best.items():
        changes = {k: v for k, v in grid[name].items() if not k.endswith(".folds")}
        print(f"\nchosen for {model}: {name}; running it on all folds as best-{model}", flush=True)
        dvc("exp", "run", "--temp", "-f", "-n", f"best-{model}", *overrides(changes))
        chosen[model] = name
    test_table(experiments(), chosen)


if __name__ == "__main__":
    main()
