"""evaluate: each model on both protocols, confusion data, and two measurements that test
the seed's explanation (accuracy by name length; gradient flow back through time).

    python -m stages.evaluate PREPARED --models MODEL_FILE... --metrics METRICS_FILE...
        --confusion DIR --length DIR --gradients DIR

`--metrics` pairs with `--models` in order; each plot folder gets one `<model>.csv` per model.

Protocols: `train` = the seed's (in-sample: the training split), `test` = held out
(distinct names never seen in training). Params: the `evaluate` section of params.yaml.
"""
import argparse
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from stages import model_file, models
from stages.atomic import write_csv, write_json
from stages.data import Encoded, predict_log_probs, read_categories, read_encoded
from stages.errors import ProjectError, cli
from stages.params import check_number, load_params
from stages.scores import confusion_matrix, recall_per_class, score_log_probs

PROTOCOLS = ("train", "test")


def length_buckets(uppers: list[int]) -> list[tuple[int, int, str]]:
    """[(low, high, label)] from upper bounds, e.g. [4, 6] -> 1-4, 5-6, 7+."""
    lows = [1] + [u + 1 for u in uppers]
    highs = uppers + [10**9]
    return [(lo, hi, f"{lo}-{hi}" if hi < 10**9 else f"{lo}+") for lo, hi in zip(lows, highs)]


def accuracy_by_length(log_probs: torch.Tensor, encoded: Encoded, uppers: list[int]) -> pd.DataFrame:
    correct = log_probs.argmax(1) == encoded.targets
    rows = []
    for low, high, label in length_buckets(uppers):
        inside = (encoded.lengths >= low) & (encoded.lengths <= high)
        count = int(inside.sum())
        accuracy = float(correct[inside].double().mean()) if count else float("nan")
        rows.append({"min_length": low, "length": label, "names": count, "accuracy": round(accuracy, 6)})
    return pd.DataFrame(rows)


def gradient_flow(model, encoded: Encoded, min_letters: int) -> pd.DataFrame:
    """Mean ||d loss / d hidden state|| by distance from the last letter.

    Computed the seed's way, letter by letter, on test names with at least `min_letters`
    letters. Distance 0 is the state read at the last letter; only distances every such
    name has (0 .. min_letters - 2) are kept, so each point averages the same names.
    """
    rows = torch.nonzero(encoded.lengths >= min_letters).flatten()
    if len(rows) == 0:
        raise ProjectError(f"no test name has {min_letters} letters; lower evaluate.gradient_min_letters")
    distances = min_letters - 1
    norms = torch.zeros(distances, dtype=torch.double)
    for row in rows.tolist():
        letters = encoded.letters[: int(encoded.lengths[row]), row].tolist()
        output, hiddens = models.step_through(model, letters, track_hidden=True)
        grads = torch.autograd.grad(F.nll_loss(output, encoded.targets[row : row + 1]), hiddens[1:])
        for distance in range(distances):
            norms[distance] += grads[-1 - distance].norm().double()
    return pd.DataFrame({"distance": range(distances), "grad_norm": (norms / len(rows)).tolist(),
                         "names": len(rows)})


def evaluate_model(model: models.SeedCell, categories: list[str], encoded: dict[str, Encoded], params: dict):
    """(metrics, confusion rows, accuracy by length, gradient flow) of one trained cell."""
    log_probs = {protocol: predict_log_probs(model, encoded[protocol]) for protocol in PROTOCOLS}
    test = encoded["test"]
    recall = recall_per_class(confusion_matrix(test.targets, log_probs["test"].argmax(1), len(categories)))
    gradients = gradient_flow(model, test, params["gradient_min_letters"])
    metrics = {protocol: {key: round(value, 6) for key, value in
                          score_log_probs(log_probs[protocol], encoded[protocol].targets).items()}
               for protocol in PROTOCOLS}
    metrics["test_recall"] = {language: round(float(r), 6) for language, r in zip(categories, recall)}
    near, far = gradients["grad_norm"].iloc[0], gradients["grad_norm"].iloc[-1]
    metrics["gradient_flow"] = {"names": int(gradients["names"].iloc[0]), "max_distance": len(gradients) - 1,
                                "norm_at_last_letter": round(near, 8), "norm_at_max_distance": round(far, 8),
                                "ratio_far_to_near": round(far / near, 8) if near > 0 else None}
    confusion = pd.DataFrame({"actual": [categories[i] for i in test.targets.tolist()],
                              "predicted": [categories[i] for i in log_probs["test"].argmax(1).tolist()]})
    return metrics, confusion, accuracy_by_length(log_probs["test"], test, params["length_buckets"]), gradients


def check_params(params: dict) -> dict:
    uppers = params.get("length_buckets")
    if not isinstance(uppers, list) or not uppers or any(not isinstance(u, int) or u < 1 for u in uppers) \
            or uppers != sorted(set(uppers)):
        raise ProjectError(f"invalid param evaluate.length_buckets={uppers!r}: expected increasing positive integers")
    check_number(params, "gradient_min_letters", int, 2, section="evaluate")
    check_number(params, "threads", int, 1, section="evaluate")
    return params


def run(params: dict, prepared: Path, model_paths: list[Path], metrics_paths: list[Path],
        plot_dirs: dict[str, Path]) -> dict[str, dict]:
    """The whole stage. Every model is evaluated before anything is written. Returns
    {model name: metrics}."""
    torch.set_num_threads(params["threads"])
    categories = read_categories(prepared)
    encoded = read_encoded(prepared, PROTOCOLS, categories)
    results = {}
    for path in model_paths:
        name, model, _ = model_file.load(path, categories)
        if name in results:
            raise ProjectError(f"{path} holds a second {name} model; pass one model file per cell")
        results[name] = evaluate_model(model, categories, encoded, params)
    for (name, (metrics, *plots)), metrics_path in zip(results.items(), metrics_paths):
        write_json(metrics_path, metrics)
        for kind, frame in zip(("confusion", "length", "gradients"), plots):
            write_csv(plot_dirs[kind] / f"{name}.csv", frame)
    return {name: metrics for name, (metrics, *_) in results.items()}


@cli
def main(argv):
    parser = argparse.ArgumentParser(prog="python -m stages.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path, help="the prepared data folder")
    parser.add_argument("--models", type=Path, nargs="+", required=True, help="trained model files")
    parser.add_argument("--metrics", type=Path, nargs="+", required=True, help="one metrics file per model")
    for kind in ("confusion", "length", "gradients"):
        parser.add_argument(f"--{kind}", type=Path, required=True, help=f"folder for the {kind} plot data")
    args = parser.parse_args(argv)
    if len(args.models) != len(args.metrics):
        parser.error(f"{len(args.models)} --models but {len(args.metrics)} --metrics: give one metrics file per model")
    params = check_params(load_params("evaluate"))
    plot_dirs = {"confusion": args.confusion, "length": args.length, "gradients": args.gradients}
    for name, metrics in run(params, args.prepared, args.models, args.metrics, plot_dirs).items():
        print(f"evaluate {name}: train balanced accuracy {metrics['train']['balanced_accuracy']:.3f}, "
              f"test balanced accuracy {metrics['test']['balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
