"""Classification scores from confusion counts, computed in torch, batched: the same code
scores one set of predictions, each fold, and every bootstrap draw."""
import torch
import torch.nn.functional as F

# corrected_accuracy: accuracy after the prior correction (surnames/score.py, docs/method.md)
SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "loss", "corrected_accuracy")


def confusion_matrix(actual: torch.Tensor, predicted: torch.Tensor, n_classes: int,
                     weights: torch.Tensor | None = None) -> torch.Tensor:
    """Counts [actual, predicted]; with `weights` [D, rows], one weighted matrix per row of
    weights: [D, actual, predicted]."""
    cell = actual.long() * n_classes + predicted.long()
    if weights is None:
        return torch.bincount(cell, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    counts = torch.zeros(weights.shape[0], n_classes * n_classes, dtype=weights.dtype)
    return counts.index_add_(1, cell, weights).reshape(-1, n_classes, n_classes)


def recall_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """Recall of each class [..., K]; NaN for a class with no examples."""
    return confusion.diagonal(dim1=-2, dim2=-1).double() / confusion.sum(-1).double()


def scores_from_confusion(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """accuracy, balanced_accuracy (mean recall over classes present) and macro_f1, for a
    confusion matrix [K, K] or a batch of them [..., K, K].

    macro_f1 averages over the classes present in `actual`; a class never predicted
    has F1 = 0 there (precision taken as 0, as scikit-learn's zero_division=0).
    """
    confusion = confusion.double()
    support, predicted = confusion.sum(-1), confusion.sum(-2)
    true_pos = confusion.diagonal(dim1=-2, dim2=-1)
    present = support > 0
    recall = torch.where(present, true_pos / support.clamp(min=1e-300), 0.0)
    precision = torch.where(predicted > 0, true_pos / predicted.clamp(min=1e-300), 0.0)
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-300), 0.0)
    n_present = present.sum(-1)
    return {"accuracy": true_pos.sum(-1) / confusion.sum((-2, -1)),
            "balanced_accuracy": recall.sum(-1) / n_present,
            "macro_f1": (f1 * present).sum(-1) / n_present}


def scores(actual: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> dict[str, float]:
    """accuracy, balanced_accuracy and macro_f1 of one set of predictions, as floats."""
    return {key: float(value) for key, value in
            scores_from_confusion(confusion_matrix(actual, predicted, n_classes)).items()}


def score_log_probs(log_probs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """scores() of the most probable class, plus the mean NLL `loss`: the one scoring path
    shared by validation during training and by evaluate."""
    result = scores(targets, log_probs.argmax(1), log_probs.shape[1])
    result["loss"] = float(F.nll_loss(log_probs, targets))
    return result
