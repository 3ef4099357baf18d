"""Scoring one model: its per-name predictions on both protocols, its metrics pooled, per fold
and with 95 % intervals, and for a course cell the plot data (confusion, accuracy by name
length, gradient flow back through time).

Protocols: `train` = the course report's (in-sample: each fold's model on its own training
names), `test` = held out (each fold's model on its fold's names, which it never saw).
Scores are pooled over the folds' predictions; intervals come from a two-level percentile
bootstrap, folds then names (surnames/bootstrap.py), with a fixed seed, so every model, and
evaluate's paired comparisons, see the same resampled folds and names.

The models it knows are the entries of SCORED: adding a model is one entry there (how to
get each fold's predictor), one scoring stage in dvc.yaml (score@<cell>, score_baseline,
score_majority), and its metrics file in the report stage.
"""
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from surnames import cells, model_file, predictions, tfidf
from surnames.atomic import output_set, table_bytes
from surnames.bootstrap import Resampler, Statistic, intervals
from surnames.data import Encoded, Split, fold_name, folds_in, predict_log_probs, read_categories, read_split
from surnames.errors import ProjectError
from surnames.params import resolve_threads
from surnames.predictions import PROTOCOLS, GradientFlow, Predictions, Rows, Scored
from surnames.scores import SCORES, confusion_matrix, recall_per_class, scores_from_confusion

Predictor = Callable[[Encoded], torch.Tensor]  # an encoded split -> log-probabilities [rows, languages]


def pooled_rows(splits: dict[int, Split], encoded: dict[int, Encoded]) -> Rows:
    folds = sorted(splits)
    return Rows(names=[name for fold in folds for name in splits[fold].names],
                targets=torch.cat([encoded[fold].targets for fold in folds]),
                lengths=torch.cat([encoded[fold].lengths for fold in folds]),
                fold=torch.cat([torch.full((len(encoded[fold]),), fold) for fold in folds]))


def predict_rows(predictors: dict[int, Predictor], encoded: dict[int, Encoded], rows: Rows,
                 offsets: dict[int, torch.Tensor]) -> Predictions:
    """Each fold's predictor on its fold's rows, pooled; `offsets` [languages] per fold are
    added to the log-probabilities for the prior-corrected prediction."""
    log_probs = [predictors[fold](encoded[fold]) for fold in sorted(encoded)]
    corrected = torch.cat([(lp + offsets[fold]).argmax(1) for fold, lp in zip(sorted(encoded), log_probs)])
    log_probs = torch.cat(log_probs)
    return Predictions(rows, log_probs.argmax(1), corrected,
                       F.nll_loss(log_probs, rows.targets, reduction="none").double())


def prior_offsets(train_targets: torch.Tensor, n_classes: int, power: int) -> torch.Tensor:
    """power x log of the training names' language frequencies [languages]: added to a model's
    log-probabilities, Bayes' rule moves it from the prior it was trained under to the names'
    own (a language absent from the training names is never predicted)."""
    if not power:
        return torch.zeros(n_classes)
    counts = torch.bincount(train_targets, minlength=n_classes).float()
    return power * (counts / counts.sum()).log()


def prior_power(model: str, training: dict | None) -> int:
    """How many times the model's training divided the languages' frequencies out of its
    prior: once for the balanced draw and once for balanced loss weights (a cell), once for
    balanced class weights (the baseline), never for the majority class (training None)."""
    if training is None:
        return 0
    if model in cells.CELLS:
        return (training["sampler"] == "balanced") + (training["loss_weights"] == "balanced")
    return int(training["class_weight"] == "balanced")


def gradient_norms(model, letters: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                   distances: int) -> torch.Tensor:
    """||d loss / d hidden state|| [names, distances] for right-aligned letters [T, B] of names
    with `lengths` (cells.letter_by_letter), computed the course report's way (advance() letter by
    letter); distance 0 is the state read at the last letter."""
    output, hiddens = cells.letter_by_letter(model, letters, track_hidden=True, lengths=lengths)
    grads = torch.autograd.grad(F.nll_loss(output, targets, reduction="sum"), hiddens[-distances:])
    return torch.stack([grad.norm(dim=1) for grad in reversed(grads)], 1).double()


def right_aligned(letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Padded letters [T, B] (name b in the first lengths[b] rows) moved to end at the last row."""
    rows = torch.arange(int(lengths.max())).unsqueeze(1) - (int(lengths.max()) - lengths)  # source row
    return letters.gather(0, rows.clamp(min=0))


def gradient_flow(fold_cells: dict, encoded: dict[int, Encoded], min_letters: int) -> GradientFlow:
    """The held-out names with at least `min_letters` letters, each through its own fold's
    cell, a fold's names in one batch (by length, then row). Only distances every such name
    has (0 .. min_letters - 2) are kept, so each point averages the same names."""
    distances, picked, norms, offset = min_letters - 1, [], [], 0
    for fold in sorted(encoded):
        data = encoded[fold]
        columns = torch.nonzero(data.lengths >= min_letters).flatten()
        columns = columns[torch.argsort(data.lengths[columns], stable=True)]
        if len(columns):
            lengths = data.lengths[columns]
            letters = right_aligned(data.letters[: int(lengths.max()), columns], lengths)
            norms.append(gradient_norms(fold_cells[fold], letters, lengths, data.targets[columns], distances))
            picked.append(columns + offset)
        offset += len(data)
    if not picked:
        raise ProjectError(f"no test name has {min_letters} letters; lower evaluate.gradient_min_letters")
    return GradientFlow(torch.cat(picked), torch.cat(norms))


# Statistics: functions of row weights [D, rows] (surnames/bootstrap.py).

def score_statistic(p: Predictions, n_classes: int) -> Statistic:
    """[D, 5]: the SCORES (accuracy, balanced accuracy, macro F1, mean NLL, prior-corrected
    accuracy) under row weights [D, rows]."""
    right_corrected = (p.corrected == p.rows.targets).double()

    def statistic(weights):
        confusion = confusion_matrix(p.rows.targets, p.predicted, n_classes, weights)
        result = scores_from_confusion(confusion)
        total = weights.sum(1)
        result["loss"] = (weights @ p.nll) / total
        result["corrected_accuracy"] = (weights @ right_corrected) / total
        return torch.stack([result[key] for key in SCORES], 1)
    return statistic


def recall_statistic(p: Predictions, n_classes: int) -> Statistic:
    return lambda weights: recall_per_class(confusion_matrix(p.rows.targets, p.predicted, n_classes, weights))


def length_buckets(uppers: list[int]) -> list[tuple[int, int, str]]:
    """[(low, high, label)] from upper bounds, e.g. [4, 6] -> 1-4, 5-6, 7+."""
    lows = [1] + [u + 1 for u in uppers]
    highs = uppers + [10**9]
    return [(lo, hi, f"{lo}-{hi}" if hi < 10**9 else f"{lo}+") for lo, hi in zip(lows, highs)]


def length_statistic(p: Predictions, uppers: list[int], corrected: bool = False) -> Statistic:
    """[D, buckets]: accuracy (prior-corrected with `corrected`) within each length bucket. Each
    row counts into one of 2 x buckets bins (its bucket, right or wrong): one index_add per draw,
    not two products, and exact, since the weights are whole numbers."""
    bucket = sum((p.rows.lengths > high).long() for _, high, _ in length_buckets(uppers)[:-1])
    bins = bucket * 2 + ((p.corrected if corrected else p.predicted) == p.rows.targets).long()
    n_buckets = len(uppers) + 1

    def statistic(weights):
        counts = weights.new_zeros(weights.shape[0], 2 * n_buckets).index_add_(1, bins, weights)
        counts = counts.view(-1, n_buckets, 2)
        return counts[..., 1] / counts.sum(-1)
    return statistic


def gradient_statistic(flow: GradientFlow) -> Statistic:
    """[D, distances]: mean gradient norm at each distance over the picked names."""
    return lambda weights: (weights[:, flow.picked] @ flow.norms) / weights[:, flow.picked].sum(1, keepdim=True)


def far_to_near(statistic: Statistic) -> Statistic:
    """The farthest distance's mean gradient norm over the nearest's."""
    return lambda weights: (lambda means: means[:, -1] / means[:, 0])(statistic(weights))


@dataclass
class Statistics:
    """Everything measured of one model's predictions, as statistics."""
    train: Statistic
    test: Statistic
    recall: Statistic
    length: Statistic
    length_trend: Statistic  # the longest names' bucket minus the shortest's
    length_corrected: Statistic  # prior-corrected accuracy within each length bucket
    length_corrected_trend: Statistic
    gradients: Statistic | None = None
    gradient_ratio: Statistic | None = None
    val: Statistic | None = None  # the SCORES on val names (a ladder model's: its own best is chosen on them)

    def by_protocol(self) -> dict[str, dict[str, Statistic]]:
        """{protocol: {name: statistic}}: what is described on each protocol's draws."""
        test = {"test": self.test, "recall": self.recall, "length": self.length}
        if self.gradients is not None:
            test.update(gradients=self.gradients, gradient_ratio=self.gradient_ratio)
        found = {"train": {"train": self.train}, "test": test}
        return {**found, "val": {"val": self.val}} if self.val is not None else found


def trend(by_bucket: Statistic) -> Statistic:
    """The longest names' bucket minus the shortest's."""
    return lambda weights: (lambda by: by[:, -1] - by[:, 0])(by_bucket(weights))


def statistics(scored: Scored, n_classes: int, length_uppers: list[int]) -> Statistics:
    train, test = scored.predictions["train"], scored.predictions["test"]
    length = length_statistic(test, length_uppers)
    corrected = length_statistic(test, length_uppers, corrected=True)
    result = Statistics(train=score_statistic(train, n_classes), test=score_statistic(test, n_classes),
                        recall=recall_statistic(test, n_classes), length=length, length_trend=trend(length),
                        length_corrected=corrected, length_corrected_trend=trend(corrected))
    if "val" in scored.predictions:
        result.val = score_statistic(scored.predictions["val"], n_classes)
    if scored.gradients is not None:
        result.gradients = gradient_statistic(scored.gradients)
        result.gradient_ratio = far_to_near(result.gradients)
    return result


def rounded(values: torch.Tensor, digits: int = 6):
    return [round(float(v), digits) for v in values] if values.dim() else round(float(values), digits)


def summary_of(described: dict, column: int | None = None) -> dict:
    """A described statistic (or one column of it) as JSON: value, low, high, per_fold (a list)."""
    pick = (lambda t: t) if column is None else (lambda t: t[..., column])
    return {"value": rounded(pick(described["value"])), "low": rounded(pick(described["low"])),
            "high": rounded(pick(described["high"])), "per_fold": rounded(pick(described["per_fold"]))}


class Resamplers:
    """One Resampler per protocol and set of rows (names and folds): every model scored on the
    same rows gets the same draws, which is what pairs two models' intervals."""

    def __init__(self, params: dict):
        self.params, self._made = params, {}

    def intervals(self, statistics: dict[str, Statistic], rows: Rows, folds: list[int]) -> dict:
        key = (tuple(rows.names), tuple(rows.fold.tolist()))
        if key not in self._made:
            self._made[key] = Resampler(rows.names, rows.fold, self.params["bootstrap_draws"],
                                        self.params["bootstrap_seed"])
        return intervals(statistics, rows.fold, folds, self._made[key], self.params["confidence"])


class Folds:
    """The prepared folds a model is scored on: both protocols' splits, read and encoded once."""

    def __init__(self, prepared: Path, folds: list[int], protocols: tuple[str, ...] = PROTOCOLS):
        self.categories = read_categories(prepared)
        self.folds = folds
        splits = {protocol: {fold: read_split(Path(prepared) / fold_name(fold), protocol, self.categories)
                             for fold in folds} for protocol in protocols}
        self.encoded = {protocol: {fold: Encoded(frame, self.categories) for fold, frame in by_fold.items()}
                        for protocol, by_fold in splits.items()}
        self.rows = {protocol: pooled_rows(splits[protocol], self.encoded[protocol]) for protocol in protocols}

    def prior_offsets(self, power: int) -> dict[int, torch.Tensor]:
        return {fold: prior_offsets(self.encoded["train"][fold].targets, len(self.categories), power)
                for fold in self.folds}

    def predict(self, model: str, predictors: dict[int, Predictor], power: int) -> Scored:
        offsets = self.prior_offsets(power)
        return Scored(model, {protocol: predict_rows(predictors, self.encoded[protocol], self.rows[protocol], offsets)
                              for protocol in self.rows})


# The models: how to get each fold's predictor (and, for a cell, the cells themselves).

def load_fold_models(directory: Path, folds: list[int], categories: list[str], model: str) -> dict[int, cells.Cell]:
    """{fold: cell} from a folder of fold-<i>.pt files, each checked to hold `model`."""
    fold_cells = {}
    for fold in folds:
        path = Path(directory) / f"{fold_name(fold)}.pt"
        name, fold_cells[fold], _ = model_file.load(path, categories)
        if name != model:
            raise ProjectError(f"{path} holds a {name} model, not {model}; each folder holds one model's folds")
    return fold_cells


def cell_predictors(fold_cells: dict[int, cells.Cell]) -> dict[int, Predictor]:
    return {fold: (lambda encoded, cell=cell: predict_log_probs(cell, encoded)) for fold, cell in fold_cells.items()}


def baseline_predictors(directory: Path, folds: list[int], categories: list[str]) -> dict[int, Predictor]:
    models = {fold: tfidf.load(Path(directory) / f"{fold_name(fold)}.pt", categories) for fold in folds}
    return {fold: (lambda encoded, model=model: model.log_probs(encoded.names)) for fold, model in models.items()}


def majority_predictors(data: Folds) -> dict[int, Predictor]:
    """Fold i's majority class: its training names' language frequencies as the prediction."""
    def prior(fold):
        counts = torch.bincount(data.encoded["train"][fold].targets, minlength=len(data.categories)).double()
        log_prior = (counts / counts.sum()).log().float()
        return lambda encoded: log_prior.expand(len(encoded), -1)
    return {fold: prior(fold) for fold in data.folds}


SCORED = (*cells.CELLS, "baseline", "majority")


def training_section(model: str) -> str | None:
    """The params.yaml section a model was trained with (None: the majority class has none)."""
    return None if model == "majority" else "baseline" if model == "baseline" else f"train_{model}"


def score_model(model: str, data: Folds, models_dir: Path | None, min_letters: int, power: int) -> Scored:
    """One model's predictions on both protocols (prior-corrected with `power`, prior_power),
    and a cell's gradient flow."""
    if model in cells.CELLS:
        fold_cells = load_fold_models(models_dir, data.folds, data.categories, model)
        scored = data.predict(model, cell_predictors(fold_cells), power)
        scored.gradients = gradient_flow(fold_cells, data.encoded["test"], min_letters)
        return scored
    if model == "baseline":
        return data.predict(model, baseline_predictors(models_dir, data.folds, data.categories), power)
    if model == "majority":
        return data.predict(model, majority_predictors(data), power)
    raise ProjectError(f"unknown model {model!r}: expected one of {', '.join(SCORED)}")


def scored_folds(prepared: Path, models_dir: Path | None) -> list[int]:
    """The folds a model was trained on (all prepared folds for the majority class)."""
    prepared_folds = folds_in(prepared)
    if not prepared_folds:
        raise ProjectError(f"no fold-<i> folders in {prepared}; run the prepare stage first")
    if models_dir is None:
        return prepared_folds
    trained = folds_in(models_dir, ".pt")
    if not trained:
        raise ProjectError(f"no fold-<i>.pt model files in {models_dir}; run 'dvc repro' first")
    folds = sorted(set(prepared_folds) & set(trained))
    if not folds:
        raise ProjectError(f"the models in {models_dir} are of folds {trained}, which {prepared} does not have; "
                           "re-run 'dvc repro'")
    return folds


# Outputs.

def metrics_of(data: Folds, described: dict, gradient_names: int | None, max_distance: int) -> dict:
    """The metrics file: scores per protocol, held-out recall per language, a cell's gradient flow."""
    metrics = {"folds": data.folds}
    for protocol in PROTOCOLS:
        metrics[protocol] = {key: summary_of(described[protocol], i) for i, key in enumerate(SCORES)}
    metrics["test_recall"] = [{"language": language, **summary_of(described["recall"], i)}
                              for i, language in enumerate(data.categories)]
    if gradient_names is not None:
        metrics["gradient_flow"] = {"names": gradient_names, "max_distance": max_distance,
                                    "ratio_far_to_near": summary_of(described["gradient_ratio"])}
    return metrics


CONFUSION_COLUMNS = ["actual", "predicted"]
GRADIENT_COLUMNS = ["distance", "grad_norm", "low", "high", "names"]


def confusion_rows(data: Folds, test: Predictions) -> list[list]:
    return [[data.categories[actual], data.categories[predicted]]
            for actual, predicted in zip(test.rows.targets.tolist(), test.predicted.tolist())]


def length_columns(folds: list[int]) -> list[str]:
    return ["min_length", "length", "names", "accuracy", "low", "high", *[f"accuracy_{fold_name(f)}" for f in folds]]


def length_rows(data: Folds, described: dict, uppers: list[int]) -> list[list]:
    lengths, rows = data.rows["test"].lengths, []
    for i, (low, high, label) in enumerate(length_buckets(uppers)):
        summary = summary_of(described, i)
        rows.append([low, label, int(((lengths >= low) & (lengths <= high)).sum()), summary["value"], summary["low"],
                     summary["high"], *summary["per_fold"]])
    return rows


def gradient_rows(described: dict, names: int) -> list[list]:
    return [[distance, value, low, high, names] for distance, (value, low, high) in enumerate(zip(
        rounded(described["value"], 8), rounded(described["low"], 8), rounded(described["high"], 8)))]


@dataclass
class Paths:
    """Where a scoring stage writes: the metrics and predictions files, and a cell's plot files."""
    metrics: Path
    predictions: Path
    confusion: Path | None = None
    length: Path | None = None
    gradients: Path | None = None


def run(model: str, params: dict, prepared: Path, models_dir: Path | None, paths: Paths,
        training: dict | None) -> dict:
    """The whole scoring stage of one model; everything is computed before anything is written.
    `training`: the params it was trained with (its params.yaml section; None for the majority
    class), for the prior correction. Returns its metrics."""
    is_cell = model in cells.CELLS
    if is_cell and None in (paths.confusion, paths.length, paths.gradients):
        raise ProjectError(f"scoring {model} writes confusion, length and gradient plot files: give all three")
    if (model == "majority") != (models_dir is None):
        raise ProjectError("the majority class needs no model folder; every other model needs one")
    torch.set_num_threads(resolve_threads(params["threads"]))
    data = Folds(prepared, scored_folds(prepared, models_dir))
    scored = score_model(model, data, models_dir, params["gradient_min_letters"], prior_power(model, training))
    measured = statistics(scored, len(data.categories), params["length_buckets"])
    described, resamplers = {}, Resamplers(params)
    for protocol, wanted in measured.by_protocol().items():
        described.update(resamplers.intervals(wanted, data.rows[protocol], data.folds))
    gradient_names = len(scored.gradients.picked) if is_cell else None
    metrics = metrics_of(data, described, gradient_names, params["gradient_min_letters"] - 2)
    with output_set() as out:  # metrics, predictions and plot files renamed into place together, or none
        out.write_json(paths.metrics, metrics)
        out.write_bytes(paths.predictions, predictions.csv_bytes(scored, data.categories))
        if is_cell:
            out.write_bytes(paths.confusion, table_bytes(CONFUSION_COLUMNS,
                                                         confusion_rows(data, scored.predictions["test"])))
            out.write_bytes(paths.length, table_bytes(length_columns(data.folds), length_rows(
                data, described["length"], params["length_buckets"])))
            out.write_bytes(paths.gradients, table_bytes(GRADIENT_COLUMNS, gradient_rows(described["gradients"],
                                                                                         gradient_names)))
    return metrics
