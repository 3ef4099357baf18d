"""evaluate: every fold's model on both protocols, pooled, per fold and with 95 % intervals,
the paired LSTM − RNN comparison, confusion data, and two measurements that test the seed's
explanation (accuracy by name length; gradient flow back through time).

    python -m stages.evaluate PREPARED --models DIR DIR --metrics FILE FILE --compare FILE
        [--baseline DIR --baseline-metrics FILE] [--majority-metrics FILE]
        --confusion DIR --length DIR --gradients DIR

Protocols: `train` = the seed's (in-sample: each fold's model on its own training names),
`test` = held out (each fold's model on its fold's names, which it never saw). Scores are
pooled over the folds' predictions. Intervals: a percentile bootstrap over names
(stages/bootstrap.py). `--metrics` pairs with `--models` (folders of fold-<i>.pt) in order;
the first model is the baseline of the comparison, the second the challenger. Params: the
`evaluate` section of params.yaml.
"""
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from stages import model_file, models, tfidf
from stages.atomic import output_set, write_csv, write_json
from stages.bootstrap import NameResampler, describe, difference
from stages.data import Encoded, fold_name, folds_in, predict_log_probs, read_categories, read_split
from stages.errors import Parser, ProjectError, cli
from stages.params import check_section, load_params, resolve_threads
from stages.scores import SCORES, confusion_matrix, recall_per_class, scores_from_confusion

PROTOCOLS = ("train", "test")


@dataclass
class Rows:
    """One protocol's rows, pooled over folds: who they are and what the models said."""
    names: list[str]
    targets: torch.Tensor
    lengths: torch.Tensor
    fold: torch.Tensor


@dataclass
class Predictions:
    rows: Rows
    predicted: torch.Tensor
    nll: torch.Tensor


def pooled_rows(splits: dict[int, pd.DataFrame], encoded: dict[int, Encoded]) -> Rows:
    folds = sorted(splits)
    return Rows(names=[name for fold in folds for name in splits[fold]["name"]],
                targets=torch.cat([encoded[fold].targets for fold in folds]),
                lengths=torch.cat([encoded[fold].lengths for fold in folds]),
                fold=torch.cat([torch.full((len(encoded[fold]),), fold) for fold in folds]))


def predict_rows(predictors: dict, encoded: dict[int, Encoded], rows: Rows) -> Predictions:
    """Each fold's predictor (a function of an encoded split) on its fold's rows, pooled."""
    log_probs = torch.cat([predictors[fold](encoded[fold]) for fold in sorted(encoded)])
    return Predictions(rows, log_probs.argmax(1), F.nll_loss(log_probs, rows.targets, reduction="none").double())


def score_statistic(p: Predictions, n_classes: int):
    """[D, 4]: accuracy, balanced accuracy, macro F1 and mean NLL under row weights [D, rows]."""
    def statistic(weights):
        confusion = confusion_matrix(p.rows.targets, p.predicted, n_classes, weights)
        result = scores_from_confusion(confusion)
        result["loss"] = (weights @ p.nll) / weights.sum(1)
        return torch.stack([result[key] for key in SCORES], 1)
    return statistic


def recall_statistic(p: Predictions, n_classes: int):
    return lambda weights: recall_per_class(confusion_matrix(p.rows.targets, p.predicted, n_classes, weights))


def length_buckets(uppers: list[int]) -> list[tuple[int, int, str]]:
    """[(low, high, label)] from upper bounds, e.g. [4, 6] -> 1-4, 5-6, 7+."""
    lows = [1] + [u + 1 for u in uppers]
    highs = uppers + [10**9]
    return [(lo, hi, f"{lo}-{hi}" if hi < 10**9 else f"{lo}+") for lo, hi in zip(lows, highs)]


def length_statistic(p: Predictions, uppers: list[int]):
    """[D, buckets]: accuracy within each length bucket."""
    inside = torch.stack([(p.rows.lengths >= low) & (p.rows.lengths <= high)
                          for low, high, _ in length_buckets(uppers)], 1).double()
    correct = (p.predicted == p.rows.targets).double().unsqueeze(1) * inside
    return lambda weights: (weights @ correct) / (weights @ inside)


def gradient_norms(model, letters: torch.Tensor, targets: torch.Tensor, distances: int) -> torch.Tensor:
    """||d loss / d hidden state|| [names, distances] for names of one length, letters [T, B],
    computed the seed's way (step() letter by letter); distance 0 is the state read at the
    last letter."""
    output, hiddens = models.step_through(model, letters, track_hidden=True)
    grads = torch.autograd.grad(F.nll_loss(output, targets, reduction="sum"), hiddens[-distances:])
    return torch.stack([grad.norm(dim=1) for grad in reversed(grads)], 1).double()


def gradient_flow(fold_models: dict, encoded: dict[int, Encoded], rows: Rows, min_letters: int):
    """(row indices of the names with at least `min_letters` letters, their gradient norms
    [names, min_letters - 1]), each name through its own fold's model. Only distances every
    such name has (0 .. min_letters - 2) are kept, so each point averages the same names."""
    distances, picked, norms, offset = min_letters - 1, [], [], 0
    for fold in sorted(encoded):
        data = encoded[fold]
        for length in sorted(set(data.lengths[data.lengths >= min_letters].tolist())):
            columns = torch.nonzero(data.lengths == length).flatten()
            norms.append(gradient_norms(fold_models[fold], data.letters[:length, columns], data.targets[columns],
                                        distances))
            picked.append(columns + offset)
        offset += len(data)
    if not picked:
        raise ProjectError(f"no test name has {min_letters} letters; lower evaluate.gradient_min_letters")
    return torch.cat(picked), torch.cat(norms)


def gradient_statistic(picked: torch.Tensor, norms: torch.Tensor):
    """[D, distances]: mean gradient norm at each distance over the picked names."""
    return lambda weights: (weights[:, picked] @ norms) / weights[:, picked].sum(1, keepdim=True)


def far_to_near(statistic):
    return lambda weights: (lambda means: means[:, -1] / means[:, 0])(statistic(weights))


def rounded(values: torch.Tensor, digits: int = 6):
    return [round(float(v), digits) for v in values] if values.dim() else round(float(values), digits)


def summary_of(described: dict, column: int | None = None) -> dict:
    """A described statistic (or one column of it) as JSON: value, low, high, per_fold (a list)."""
    pick = (lambda t: t) if column is None else (lambda t: t[..., column])
    return {"value": rounded(pick(described["value"])), "low": rounded(pick(described["low"])),
            "high": rounded(pick(described["high"])), "per_fold": rounded(pick(described["per_fold"]))}


class Evaluation:
    """Everything shared by the models: the folds' rows, encoded once, and the resamplers."""

    def __init__(self, prepared: Path, folds: list[int], params: dict):
        self.categories = read_categories(prepared)
        self.folds, self.params = folds, params
        self.splits = {protocol: {fold: read_split(Path(prepared) / fold_name(fold), protocol, self.categories)
                                  for fold in folds} for protocol in PROTOCOLS}
        self.encoded = {protocol: {fold: Encoded(frame, self.categories) for fold, frame in splits.items()}
                        for protocol, splits in self.splits.items()}
        self.rows = {protocol: pooled_rows(self.splits[protocol], self.encoded[protocol]) for protocol in PROTOCOLS}
        self.resampler = {protocol: NameResampler(self.rows[protocol].names, params["bootstrap_draws"],
                                                  params["bootstrap_seed"]) for protocol in PROTOCOLS}

    def describe(self, statistics: dict, protocol: str) -> dict:
        """Every statistic of one protocol, described on one shared set of draws."""
        return describe(statistics, self.rows[protocol].fold, self.folds, self.resampler[protocol],
                        self.params["confidence"])

    def statistics(self, predictors: dict) -> dict:
        """Scores per protocol, held-out recall and accuracy by length of one model's folds."""
        k = len(self.categories)
        predictions = {protocol: predict_rows(predictors, self.encoded[protocol], self.rows[protocol])
                       for protocol in PROTOCOLS}
        return {"predictions": predictions,
                **{protocol: score_statistic(predictions[protocol], k) for protocol in PROTOCOLS},
                "recall": recall_statistic(predictions["test"], k),
                "length": length_statistic(predictions["test"], self.params["length_buckets"])}

    def cell_statistics(self, cells: dict) -> dict:
        """statistics() of a seed cell's folds, plus its gradient flow."""
        picked, norms = gradient_flow(cells, self.encoded["test"], self.rows["test"],
                                      self.params["gradient_min_letters"])
        gradients = gradient_statistic(picked, norms)
        return {**self.statistics({fold: cell_predictor(cell) for fold, cell in cells.items()}),
                "gradient_names": len(picked), "gradients": gradients, "gradient_ratio": far_to_near(gradients)}

    def majority_predictors(self) -> dict:
        """Fold i's majority class: its training names' language frequencies as the prediction."""
        def prior(fold):
            counts = torch.bincount(self.encoded["train"][fold].targets, minlength=len(self.categories)).double()
            log_prior = (counts / counts.sum()).log().float()
            return lambda encoded: log_prior.expand(len(encoded), -1)
        return {fold: prior(fold) for fold in self.folds}


def cell_predictor(cell):
    return lambda encoded: predict_log_probs(cell, encoded)


def baseline_predictor(model: tfidf.TfidfLogistic):
    return lambda encoded: model.log_probs(encoded.names)


CELL_STATISTICS = {"train": ("train",), "test": ("test", "recall", "length", "gradients", "gradient_ratio")}
REFERENCE_STATISTICS = {"train": ("train",), "test": ("test", "recall", "length")}
COMPARED = {"train": ("train",), "test": ("test", "recall", "length", "gradient_ratio")}


def describe_everything(ev: Evaluation, stats: dict[str, dict], references: dict[str, dict]) -> dict[tuple, dict]:
    """{(owner, statistic): described}, owner a model, "compare" (challenger − baseline cell)
    or "vs_baseline:<cell>" (cell − the n-gram baseline). Each protocol's draws are made once
    for all models and all paired differences."""
    base, challenger = stats
    described = {}
    for protocol in PROTOCOLS:
        wanted = {(m, key): stats[m][key] for m in stats for key in CELL_STATISTICS[protocol]}
        wanted.update({(m, key): references[m][key] for m in references for key in REFERENCE_STATISTICS[protocol]})
        wanted.update({("compare", key): difference(stats[challenger][key], stats[base][key])
                       for key in COMPARED[protocol]})
        if "baseline" in references and protocol == "test":
            wanted.update({(f"vs_baseline:{m}", "test"): difference(stats[m]["test"], references["baseline"]["test"])
                           for m in stats})
        described.update(ev.describe(wanted, protocol))
    return described


def reference_metrics(ev: Evaluation, described: dict) -> dict:
    """The baseline's or the majority class's metrics: the cells' scores, without gradient flow."""
    metrics = {"folds": ev.folds}
    for protocol in PROTOCOLS:
        metrics[protocol] = {key: summary_of(described[protocol], i) for i, key in enumerate(SCORES)}
    metrics["test_recall"] = [{"language": language, **summary_of(described["recall"], i)}
                              for i, language in enumerate(ev.categories)]
    return metrics


def model_outputs(ev: Evaluation, stats: dict, described: dict) -> tuple[dict, pd.DataFrame, pd.DataFrame,
                                                                         pd.DataFrame]:
    """(metrics, confusion rows, accuracy by length, gradient flow) of one seed cell."""
    metrics = reference_metrics(ev, described)
    distances = ev.params["gradient_min_letters"] - 1
    metrics["gradient_flow"] = {"names": stats["gradient_names"], "max_distance": distances - 1,
                                "ratio_far_to_near": summary_of(described["gradient_ratio"])}
    test = stats["predictions"]["test"]
    confusion = pd.DataFrame({"actual": [ev.categories[i] for i in test.rows.targets.tolist()],
                              "predicted": [ev.categories[i] for i in test.predicted.tolist()]})
    return metrics, confusion, length_frame(ev, described["length"]), \
        gradient_frame(described["gradients"], stats["gradient_names"])


def length_frame(ev: Evaluation, described: dict) -> pd.DataFrame:
    lengths = ev.rows["test"].lengths
    rows = []
    for i, (low, high, label) in enumerate(length_buckets(ev.params["length_buckets"])):
        row = {"min_length": low, "length": label, "names": int(((lengths >= low) & (lengths <= high)).sum()),
               **{key: value for key, value in summary_of(described, i).items() if key != "per_fold"}}
        row["accuracy"] = row.pop("value")
        rows.append({**row, **{f"accuracy_{fold_name(f)}": v
                               for f, v in zip(ev.folds, summary_of(described, i)["per_fold"])}})
    return pd.DataFrame(rows)[["min_length", "length", "names", "accuracy", "low", "high",
                               *[f"accuracy_{fold_name(f)}" for f in ev.folds]]]


def gradient_frame(described: dict, names: int) -> pd.DataFrame:
    return pd.DataFrame({"distance": range(len(described["value"])), "grad_norm": rounded(described["value"], 8),
                         "low": rounded(described["low"], 8), "high": rounded(described["high"], 8),
                         "names": names})


def comparison(ev: Evaluation, described: dict, versus: dict[str, dict]) -> dict:
    """challenger − baseline cell on the same names, with paired intervals; and each cell −
    the n-gram baseline on held-out names (a list: in the file, not in dvc exp show)."""
    def entry(key: str, column: int | None = None, source: dict = described) -> dict:
        summary = summary_of(source[key], column)
        return {"difference": summary.pop("value"), **summary}

    result = {"folds": ev.folds}
    for protocol in PROTOCOLS:
        result[protocol] = {key: entry(protocol, i) for i, key in enumerate(SCORES)}
    result["gradient_ratio"] = entry("gradient_ratio")
    result["by_language"] = [{"language": language, **entry("recall", i)} for i, language in enumerate(ev.categories)]
    result["by_length"] = [{"length": label, **entry("length", i)}
                           for i, (_, _, label) in enumerate(length_buckets(ev.params["length_buckets"]))]
    if versus:
        result["vs_baseline"] = [{"model": m, "score": key, **entry("test", SCORES.index(key), versus[m])}
                                 for m in versus for key in SCORES[:3]]
    return result


def load_baseline(directory: Path, folds: list[int], categories: list[str]) -> dict:
    return {fold: baseline_predictor(tfidf.load(Path(directory) / f"{fold_name(fold)}.pt", categories))
            for fold in folds}


def load_fold_models(directory: Path, folds: list[int], categories: list[str]) -> tuple[str, dict]:
    """(model name, {fold: cell}) from a folder of fold-<i>.pt files."""
    names, cells = set(), {}
    for fold in folds:
        name, cells[fold], _ = model_file.load(Path(directory) / f"{fold_name(fold)}.pt", categories)
        names.add(name)
    if len(names) != 1:
        raise ProjectError(f"{directory} mixes models {sorted(names)}; each folder holds one model's folds")
    return names.pop(), cells


def common_folds(prepared: Path, model_dirs: list[Path]) -> list[int]:
    """The folds every model was trained on (and that the prepared data has)."""
    folds = set(folds_in(prepared))
    for directory in model_dirs:
        trained = folds_in(directory, ".pt")
        if not trained:
            raise ProjectError(f"no fold-<i>.pt model files in {directory}; run 'dvc repro' first")
        folds &= set(trained)
    if not folds:
        raise ProjectError(f"the models in {', '.join(map(str, model_dirs))} share no fold; train the same folds")
    return sorted(folds)


def check_params(params: dict) -> dict:
    return check_section("evaluate", params)


def run(params: dict, prepared: Path, model_dirs: list[Path], metrics_paths: list[Path], compare_path: Path,
        plot_dirs: dict[str, Path], references: dict[str, Path] | None = None) -> dict[str, dict]:
    """The whole stage, for a baseline and a challenger seed cell, and with `references`
    ({"baseline_models", "baseline_metrics", "majority_metrics"}) the n-gram baseline and the
    majority class as reference rows. Everything is evaluated before anything is written.
    Returns {model name: metrics}."""
    if len(model_dirs) != 2 or len(metrics_paths) != 2:
        raise ProjectError("evaluate compares two models: give two model folders and two metrics files")
    references = references or {}
    torch.set_num_threads(resolve_threads(params["threads"]))
    baseline_dir = [references["baseline_models"]] if "baseline_models" in references else []
    ev = Evaluation(prepared, common_folds(prepared, model_dirs + baseline_dir), params)
    stats = {}
    for directory in model_dirs:
        name, cells = load_fold_models(directory, ev.folds, ev.categories)
        if name in stats:
            raise ProjectError(f"{directory} holds a second {name} model; pass one folder per cell")
        stats[name] = ev.cell_statistics(cells)
    reference_stats = {}
    if baseline_dir:
        reference_stats["baseline"] = ev.statistics(load_baseline(baseline_dir[0], ev.folds, ev.categories))
    if "majority_metrics" in references:
        reference_stats["majority"] = ev.statistics(ev.majority_predictors())
    described = describe_everything(ev, stats, reference_stats)
    owned = {}
    for (owner, key), description in described.items():
        owned.setdefault(owner, {})[key] = description
    outputs = {m: model_outputs(ev, stats[m], owned[m]) for m in stats}
    compared = comparison(ev, owned["compare"], {m: owned[f"vs_baseline:{m}"] for m in stats if baseline_dir})
    # Both cells' held-out balanced accuracy under names that no other metrics file uses, so
    # that `dvc exp show` heads them briefly (the README's narrow comparison table).
    compared = {"test_balanced_accuracy": {m: outputs[m][0]["test"]["balanced_accuracy"]["value"] for m in outputs},
                **compared}
    with output_set():  # every metrics and plot file renamed into place, or none
        for (name, (metrics, *plots)), metrics_path in zip(outputs.items(), metrics_paths):
            write_json(metrics_path, metrics)
            for kind, frame in zip(("confusion", "length", "gradients"), plots):
                write_csv(plot_dirs[kind] / f"{name}.csv", frame)
        for name in reference_stats:
            write_json(references[f"{name}_metrics"], reference_metrics(ev, owned[name]))
        write_json(compare_path, compared)
    return {name: metrics for name, (metrics, *_) in outputs.items()}


@cli
def main(argv):
    parser = Parser(prog="python -m stages.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path, help="the prepared data folder (fold-<i>/ folders)")
    parser.add_argument("--models", type=Path, nargs=2, required=True, help="the baseline's and the challenger's "
                        "folders of fold-<i>.pt model files")
    parser.add_argument("--metrics", type=Path, nargs=2, required=True, help="one metrics file per model")
    parser.add_argument("--compare", type=Path, required=True, help="where to write challenger − baseline (JSON)")
    parser.add_argument("--baseline", type=Path, help="the n-gram baseline's folder of fold-<i>.pt files")
    parser.add_argument("--baseline-metrics", type=Path, help="where to write the n-gram baseline's metrics")
    parser.add_argument("--majority-metrics", type=Path, help="where to write the majority class's metrics")
    for kind in ("confusion", "length", "gradients"):
        parser.add_argument(f"--{kind}", type=Path, required=True, help=f"folder for the {kind} plot data")
    args = parser.parse_args(argv)
    if (args.baseline is None) != (args.baseline_metrics is None):
        parser.error("--baseline and --baseline-metrics go together")
    params = check_params(load_params("evaluate"))
    plot_dirs = {"confusion": args.confusion, "length": args.length, "gradients": args.gradients}
    references = {key: value for key, value in (("baseline_models", args.baseline),
                                                ("baseline_metrics", args.baseline_metrics),
                                                ("majority_metrics", args.majority_metrics)) if value is not None}
    for name, metrics in run(params, args.prepared, args.models, args.metrics, args.compare, plot_dirs,
                             references).items():
        train, test = metrics["train"]["balanced_accuracy"], metrics["test"]["balanced_accuracy"]
        print(f"evaluate {name} (folds {metrics['folds']}): balanced accuracy, train {train['value']:.3f}, "
              f"test {test['value']:.3f} [{test['low']:.3f}, {test['high']:.3f}]")


if __name__ == "__main__":
    main()
