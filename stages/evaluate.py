"""evaluate: both models on both protocols, confusion data, and two measurements that test
the seed's explanation (accuracy by name length; gradient flow back through time).

Protocols: `train` = the seed's (in-sample: the training split), `test` = held out
(distinct names never seen in training). Params: the `evaluate` section of params.yaml.
"""
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from stages import models
from stages.io import ProjectError, check_number, cli, load_categories, load_params, load_split, write_csv, write_json
from stages.scores import confusion_matrix, recall_per_class, scores
from stages.train import Split, predict_split

MODELS = ("rnn", "lstm")
PROTOCOLS = ("train", "test")


def protocol_scores(log_probs: torch.Tensor, split: Split) -> dict[str, float]:
    result = scores(split.targets, log_probs.argmax(1), split.n_classes)
    result["loss"] = float(F.nll_loss(log_probs, split.targets))
    return {key: round(value, 6) for key, value in result.items()}


def length_buckets(uppers: list[int]) -> list[tuple[int, int, str]]:
    """[(low, high, label)] from upper bounds, e.g. [4, 6] -> 1-4, 5-6, 7+."""
    lows = [1] + [u + 1 for u in uppers]
    highs = uppers + [10**9]
    return [(lo, hi, f"{lo}-{hi}" if hi < 10**9 else f"{lo}+") for lo, hi in zip(lows, highs)]


def accuracy_by_length(log_probs: torch.Tensor, split: Split, uppers: list[int]) -> pd.DataFrame:
    correct = log_probs.argmax(1) == split.targets
    rows = []
    for low, high, label in length_buckets(uppers):
        inside = (split.lengths >= low) & (split.lengths <= high)
        count = int(inside.sum())
        accuracy = float(correct[inside].double().mean()) if count else float("nan")
        rows.append({"min_length": low, "length": label, "names": count, "accuracy": round(accuracy, 6)})
    return pd.DataFrame(rows)


def gradient_flow(model, split: Split, min_letters: int) -> pd.DataFrame:
    """Mean ||d loss / d hidden state|| by distance from the last letter.

    Computed the seed's way, letter by letter, on test names with at least `min_letters`
    letters. Distance 0 is the state read at the last letter; only distances every such
    name has (0 .. min_letters - 2) are kept, so each point averages the same names.
    """
    rows = torch.nonzero(split.lengths >= min_letters).flatten()
    if len(rows) == 0:
        raise ProjectError(f"no test name has {min_letters} letters; lower evaluate.gradient_min_letters")
    distances = min_letters - 1
    norms = torch.zeros(distances, dtype=torch.double)
    for row in rows.tolist():
        letters = split.letters[: int(split.lengths[row]), row].tolist()
        output, hiddens = models.step_through(model, letters, track_hidden=True)
        grads = torch.autograd.grad(F.nll_loss(output, split.targets[row : row + 1]), hiddens[1:])
        for distance in range(distances):
            norms[distance] += grads[-1 - distance].norm().double()
    return pd.DataFrame({"distance": range(distances), "grad_norm": (norms / len(rows)).tolist(),
                         "names": len(rows)})


def evaluate_model(name: str, categories: list[str], splits: dict[str, Split], params: dict):
    model, _ = models.load(Path(f"models/{name}.pt"), categories)
    log_probs = {protocol: predict_split(model, splits[protocol]) for protocol in PROTOCOLS}
    test = splits["test"]
    recall = recall_per_class(confusion_matrix(test.targets, log_probs["test"].argmax(1), len(categories)))
    gradients = gradient_flow(model, test, params["gradient_min_letters"])
    metrics = {protocol: protocol_scores(log_probs[protocol], splits[protocol]) for protocol in PROTOCOLS}
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


@cli
def main(argv):
    params = check_params(load_params("evaluate"))
    torch.set_num_threads(params["threads"])
    categories = load_categories()
    splits = {protocol: Split(load_split(protocol, categories), categories) for protocol in PROTOCOLS}
    results = {name: evaluate_model(name, categories, splits, params) for name in MODELS}
    for name, (metrics, confusion, by_length, gradients) in results.items():
        write_json(Path(f"metrics/{name}.json"), metrics)
        write_csv(Path(f"plots/confusion/{name}.csv"), confusion)
        write_csv(Path(f"plots/length/{name}.csv"), by_length)
        write_csv(Path(f"plots/gradients/{name}.csv"), gradients)
        print(f"evaluate {name}: train balanced accuracy {metrics['train']['balanced_accuracy']:.3f}, "
              f"test balanced accuracy {metrics['test']['balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
