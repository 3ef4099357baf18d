import math

import pytest
import torch

from surnames.scores import confusion_matrix, recall_per_class, scores


def test_scores_on_a_hand_computed_case():
    # class 0: 3 examples, 2 right; class 1: 1 example, right; class 2: 2 examples, 0 right.
    actual = torch.tensor([0, 0, 0, 1, 2, 2])
    predicted = torch.tensor([0, 0, 1, 1, 0, 1])
    assert confusion_matrix(actual, predicted, 3).tolist() == [[2, 1, 0], [0, 1, 0], [1, 1, 0]]
    result = scores(actual, predicted, 3)
    assert result["accuracy"] == pytest.approx(3 / 6)
    assert result["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    # precision: class 0 = 2/3, class 1 = 1/3, class 2 = 0 (never predicted)
    f1_0 = 2 * (2 / 3) * (2 / 3) / (4 / 3)
    f1_1 = 2 * (1 / 3) * 1 / (4 / 3)
    assert result["macro_f1"] == pytest.approx((f1_0 + f1_1 + 0) / 3)


def test_classes_absent_from_actual_do_not_count():
    result = scores(torch.tensor([0, 0]), torch.tensor([0, 1]), 3)
    assert result["balanced_accuracy"] == pytest.approx(0.5)
    recall = recall_per_class(confusion_matrix(torch.tensor([0, 0]), torch.tensor([0, 1]), 3))
    assert recall[0] == 0.5 and math.isnan(recall[2])


def test_perfect_predictions_score_one():
    labels = torch.arange(5).repeat(3)
    assert scores(labels, labels, 5) == {"accuracy": 1.0, "balanced_accuracy": 1.0, "macro_f1": 1.0}
