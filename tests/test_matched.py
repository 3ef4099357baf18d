"""The matched budgets (surnames/budgets.py) and the ladder's views over them (surnames/matched.py)."""
import json

import pytest
import yaml

from surnames import budgets, dvc_yaml, ladder, matched
from surnames.params import read_params
from tests.helpers import ROOT, SMALL_FOLDS, inside


def test_every_matched_view_compares_cells_trained_alike():
    """From the registry (the ladder's rungs and pairs), dvc.yaml and params.yaml: one budget
    stage per lr, each training every rung with the same optimizer, lr, steps and batch, so
    every comparison in a matched view changes the cell and nothing else; the committed
    summaries say each rung was trained so."""
    params = read_params(ROOT / "params.yaml")
    lrs = params["budgets"]["lrs"]
    stages = [name for name in dvc_yaml.stage_names(ROOT / "dvc.yaml") if name.startswith("budget@")]
    assert stages == [f"budget@{lr}" for lr in lrs] and len(lrs) >= 2
    for stage, lr in zip(stages, lrs):
        assert float(dvc_yaml.module_args(stage, ROOT / "dvc.yaml")[0]) == lr
        trained = {cell: budgets.training_params(params["budgets"], lr, params[f"train_{cell}"]["hidden_size"])
                   for cell in ladder.RUNGS}
        summary = json.loads((ROOT / dvc_yaml.module_args(stage, ROOT / "dvc.yaml")[-1]).read_text())
        recorded = {c["cell"]: c for c in summary["cells"]}
        for pair in ladder.PAIRS:
            for key in budgets.ALIKE:
                assert trained[pair.model][key] == trained[pair.against][key], (stage, pair, key)
                assert recorded[pair.model][key] == recorded[pair.against][key] == trained[pair.model][key]
            unlike = {k for k in trained[pair.model] if trained[pair.model][k] != trained[pair.against][k]}
            assert unlike <= {"hidden_size"}, (stage, pair, unlike)  # capacity is a cell's own


def summary(lr: float, val: dict, diverged=()) -> dict:
    cells = [{"cell": cell, "optimizer": "adam", "lr": lr, "iterations": 500, "batch_size": 256, "hidden_size": 128,
              **({"diverged": [{"fold": 0, "step": 3}]} if cell in diverged else
                 {"val_accuracy": 0.5, "val_balanced_accuracy": val.get(cell, 0.4)})} for cell in ladder.RUNGS]
    return {"lr": lr, "folds": [0, 1], "cells": cells}


def test_own_best_is_the_best_mean_val_score_and_a_tie_goes_to_the_lower_lr():
    summaries = [summary(0.01, {"lstm": 0.45, "rnn": 0.41}), summary(0.003, {"lstm": 0.48, "rnn": 0.41})]
    best = matched.own_best(summaries)
    assert best["lstm"] == 0.003 and best["rnn"] == 0.003 and best["tanh_rnn"] == 0.003
    summaries[0]["cells"][0]["val_balanced_accuracy"] = 0.42  # rnn at 0.01 is now the better
    assert matched.own_best(summaries)["rnn"] == 0.01
    assert list(matched.views(summaries)) == ["lr 0.003", "lr 0.01", ladder.OWN_BEST]


def test_a_rung_that_blew_up_is_left_out_of_its_budget_s_view_not_a_failure():
    summaries = [summary(0.003, {"rnn": 0.9}), summary(0.01, {"rnn": 0.99}, diverged=("rnn",))]
    views = matched.views(summaries)
    assert "rnn" not in views["lr 0.01"] and views["lr 0.003"]["rnn"] == 0.003
    assert views[ladder.OWN_BEST]["rnn"] == 0.003  # its best among the budgets where it trained


def test_the_budget_stage_records_a_run_that_blows_up(small_run, tmp_path):
    """lr 1e6 without clipping blows every rung up in a step or two: the stage still writes its
    summary, with the step, and no predictions for them."""
    section = {**read_params(small_run / "params.yaml")["budgets"], "grad_clip": 0.0, "iterations": 5,
               "folds": SMALL_FOLDS[:1], "processes": 1}
    with inside(small_run):
        result = budgets.run(1e6, section, {cell: 8 for cell in ladder.RUNGS}, small_run / "data/prepared",
                             tmp_path / "models", tmp_path / "predictions", tmp_path / "summary.json")
    assert all(c["diverged"][0]["step"] <= 5 for c in result["cells"]), result
    assert json.loads((tmp_path / "summary.json").read_text()) == result
    assert list((tmp_path / "predictions").iterdir()) == []


def test_an_lr_outside_budgets_lrs_is_refused_in_one_line(small_run, capsys):
    from tests.helpers import call_main, one_line_error
    with inside(small_run):
        status = call_main("budget", "0.5", "data/prepared", "m", "p", "s.json")
    one_line_error(capsys, status, "lr 0.5 is not one of budgets.lrs")


@pytest.mark.parametrize("lrs", [[], [0.01, 0.003], [0.003, 0.003], [0.0, 0.01], ["0.01"]])
def test_budgets_lrs_must_be_increasing_distinct_positive_numbers(tmp_path, lrs):
    from surnames.errors import ProjectError
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["budgets"]["lrs"] = lrs
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ProjectError, match="invalid param budgets.lrs="):
        read_params(tmp_path / "params.yaml")


def test_the_matched_stage_s_outputs_come_from_the_budget_stages(small_run):
    """small_run's matched.json: every budget's models, every view's ladder, on every pair."""
    result = json.loads((small_run / "metrics/matched.json").read_text())
    lrs = read_params(small_run / "params.yaml")["budgets"]["lrs"]
    assert [b["lr"] for b in result["budgets"]] == lrs
    assert [v["view"] for v in result["views"]] == [*(matched.view_name(lr) for lr in lrs), ladder.OWN_BEST]
    assert len(result["ladders"]) == len(result["views"]) * len(ladder.PAIRS) * len(ladder.PAIR_SCORES)
    for view in result["views"][:-1]:
        assert {c["lr"] for c in view["cells"]} == {float(view["view"][3:])}
    accuracy = (small_run / "plots/budgets/accuracy.csv").read_text().splitlines()
    assert accuracy[0] == "lr," + ",".join(ladder.RUNGS) and len(accuracy) == 1 + len(lrs)
