"""tools/budget_check.py: one cell at several budgets on one fold."""
import pytest

from tools import budget_check


def test_each_budget_trains_its_own_cell_and_scores_the_fold_s_held_out_names(small_run):
    rows = budget_check.check("rnn", [(0.01, 3), (0.01, 30)], 0, small_run / "data/prepared")
    assert [(row["lr"], row["steps"]) for row in rows] == [(0.01, 3), (0.01, 30)]
    for row in rows:
        assert all(0 <= row[key] <= 1 for key in ("accuracy", "corrected_accuracy", "balanced_accuracy"))
    assert rows[0] != rows[1]  # 3 and 30 steps are not the same model


def test_a_budget_that_is_not_lr_x_steps_is_refused():
    with pytest.raises(Exception, match="is not LRxSTEPS"):
        budget_check.budget("0.01")
    assert budget_check.budget("0.003x500") == (0.003, 500)
