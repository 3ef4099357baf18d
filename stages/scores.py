"""Classification scores from (actual, predicted) class indices, computed in torch."""
import torch
import torch.nn.functional as F


def confusion_matrix(actual: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Counts [actual, predicted]."""
    flat = actual.long() * n_classes + predicted.long()
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def recall_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """Recall of each class; NaN for a class with no examples."""
    return confusion.diagonal().double() / confusion.sum(1).double()


def scores(actual: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> dict[str, float]:
    """accuracy, balanced_accuracy (mean recall over classes present) and macro_f1.

    macro_f1 averages over the classes present in `actual`; a class never predicted
    has F1 = 0 there (precision taken as 0, as scikit-learn's zero_division=0).
    """
    confusion = confusion_matrix(actual, predicted, n_classes).double()
    present = confusion.sum(1) > 0
    true_pos = confusion.diagonal()
    recall = true_pos / confusion.sum(1)
    precision = torch.where(confusion.sum(0) > 0, true_pos / confusion.sum(0), 0.0)
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {
        "accuracy": float(true_pos.sum() / confusion.sum()),
        "balanced_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
    }


def score_log_probs(log_probs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """scores() of the most probable class, plus the mean NLL `loss`: the one scoring path
    shared by validation during training and by evaluate."""
    result = scores(targets, log_probs.argmax(1), log_probs.shape[1])
    result["loss"] = float(F.nll_loss(log_probs, targets))
    return result
