"""Verdicts (surnames/verdicts.py): what a difference says, val ties, which steps hold."""
import pytest

from surnames import verdicts
from surnames.ladder import CLAIM_SCORES

VIEWS = ["lr 0.003", "lr 0.01", "own best"]


@pytest.mark.parametrize("low, high, expected", [(0.01, 0.05, "up"), (-0.05, -0.01, "down"), (-0.01, 0.02, "none"),
                                                 (0.0, 0.02, "none")])
def test_a_verdict_needs_an_interval_that_excludes_0(low, high, expected):
    assert verdicts.verdict(low, high) == expected


def test_a_val_tie_keeps_every_lr_whose_difference_from_the_best_includes_0():
    differences = {0.01: {"low": -0.002, "high": 0.004}, 0.03: {"low": 0.01, "high": 0.03}}
    assert verdicts.tied(0.003, differences) == [0.003, 0.01]  # a 0.1-point margin settles nothing
    assert verdicts.tied(0.003, {0.01: {"low": 0.001, "high": 0.004}}) == [0.003]


def test_own_best_over_a_tie_is_the_verdict_every_choice_shares_else_tie():
    assert verdicts.shared(["up", "up", "up"]) == "up"
    assert verdicts.shared(["up", "none"]) == "tie"


def entries(step: str, verdict: str = "up") -> list[dict]:
    return [{"step": step, "score": score, "view": view, "verdict": verdict}
            for score in CLAIM_SCORES for view in VIEWS]


def test_a_step_holds_only_when_every_view_on_both_scores_agrees():
    made_up = entries("gates") + entries("capacity", "down") + entries("the forget gate", "none")
    assert verdicts.holding(made_up, ["gates", "capacity", "the forget gate"], VIEWS, CLAIM_SCORES) == [
        {"step": "gates", "direction": "up"}, {"step": "capacity", "direction": "down"}]


@pytest.mark.parametrize("flipped", ["none", "down", "tie"])
@pytest.mark.parametrize("where", range(len(VIEWS) * len(CLAIM_SCORES)))
def test_one_flipped_view_drops_the_step(flipped, where):
    made_up = entries("gates")
    made_up[where]["verdict"] = flipped
    assert verdicts.holding(made_up, ["gates"], VIEWS, CLAIM_SCORES) == []


def test_a_missing_view_holds_nothing():
    assert verdicts.holding(entries("gates")[1:], ["gates"], VIEWS, CLAIM_SCORES) == []
