"""The ladder's grid (surnames/grid.py, the ladder@<cell>-<lr> stages) and its steps and
verdicts (surnames/matched.py), on the small run."""
import csv
import json

import pytest
import yaml

from surnames import dvc_yaml, grid, ladder, matched
from surnames.params import read_params
from tests.helpers import ROOT, SMALL_FOLDS, call_main, inside, one_line_error


def test_every_step_compares_cells_trained_alike():
    """dvc.yaml's matrix: one stage per cell and lr, each training with the same `budgets` params
    but its own hidden size; the committed metrics say each point was trained so."""
    params = read_params(ROOT / "params.yaml")
    lrs = params["budgets"]["lrs"]
    stages = [s for s in dvc_yaml.stage_names(ROOT / "dvc.yaml") if s.startswith("ladder@")]
    assert len(stages) == len(ladder.RUNGS) * len(lrs) and len(lrs) >= 2
    recorded = {}
    for stage in stages:
        cell, lr, *_, metrics = dvc_yaml.module_args(stage, ROOT / "dvc.yaml")
        recorded[cell, float(lr)] = json.loads((ROOT / metrics).read_text())
    for step in ladder.STEPS:
        for lr in lrs:
            model, against = recorded[step.model, lr], recorded[step.against, lr]
            assert all(model[key] == against[key] for key in (*grid.ALIKE, "folds")), (step, lr)
            assert model["lr"] == lr


def test_the_grid_stage_records_a_run_that_blows_up(small_run, tmp_path):
    """lr 1e6 without clipping blows the cell up in a step or two: the stage still writes its
    metrics, with the step, and a predictions file with no rows."""
    section = {**read_params(small_run / "params.yaml")["budgets"], "grad_clip": 0.0, "iterations": 5,
               "folds": SMALL_FOLDS[:1], "processes": 1, "lrs": [1e6]}
    evaluate = read_params(small_run / "params.yaml")["evaluate"]
    with inside(small_run):
        result = grid.run("rnn", 1e6, section, evaluate, small_run / "data/prepared", tmp_path / "models",
                          tmp_path / "p.csv", tmp_path / "m.json")
    assert result["diverged"][0]["step"] <= 5, result
    assert json.loads((tmp_path / "m.json").read_text()) == result
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (("rnn", "0.5"), "lr 0.5 is not one of budgets.lrs"),
])
def test_a_point_outside_the_grid_is_refused_in_one_line(small_run, capsys, args, message):
    with inside(small_run):
        status = call_main("ladder", *args, "data/prepared", "m", "p.csv", "s.json")
    one_line_error(capsys, status, message)


@pytest.mark.parametrize("lrs", [[], [0.01, 0.003], [0.003, 0.003], [0.0, 0.01], ["0.01"]])
def test_budgets_lrs_must_be_increasing_distinct_positive_numbers(tmp_path, lrs):
    from surnames.errors import ProjectError
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["budgets"]["lrs"] = lrs
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ProjectError, match="invalid param budgets.lrs="):
        read_params(tmp_path / "params.yaml")


def test_budgets_hidden_size_must_name_every_cell(tmp_path):
    from surnames.errors import ProjectError
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    del params["budgets"]["hidden_size"]["lstm"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ProjectError, match="invalid param budgets.hidden_size="):
        read_params(tmp_path / "params.yaml")


def test_the_matched_stage_judges_every_step_score_and_view(small_run):
    """small_run's ladder.json: a verdict per step, score and view, each own-best choice listed."""
    result = json.loads((small_run / "metrics/ladder.json").read_text())
    lrs = read_params(small_run / "params.yaml")["budgets"]["lrs"]
    assert result["views"] == [*(matched.view_name(lr) for lr in lrs), ladder.OWN_BEST]
    assert len(result["verdicts"]) == len(result["views"]) * len(ladder.STEPS) * len(ladder.TABLE_SCORES)
    for e in result["verdicts"]:
        assert e["verdict"] in ("up", "down", "none", "tie") and e["choices"]
        if e["view"] != ladder.OWN_BEST:
            assert [(c["model_lr"], c["against_lr"]) for c in e["choices"]] == [(float(e["view"][3:]),) * 2]
    answer = list(csv.reader((small_run / "plots/answer.csv").read_text().splitlines()))  # names hold commas
    assert answer[0] == matched.ANSWER_COLUMNS
    assert {row[0] for row in answer[1:]} == {s.name for s in ladder.STEPS}
    accuracy = (small_run / "plots/budgets/accuracy.csv").read_text().splitlines()
    scored = [json.loads(path.read_text()) for path in sorted((small_run / "metrics/ladder").glob("*.json"))]
    points = sorted(((m["cell"], m["lr"]) for m in scored if "test" in m), key=lambda p: ladder.RUNGS.index(p[0]))
    assert accuracy[0] == "lr,cell,accuracy"  # one row per point that did not blow up, registry order
    assert [(cell, float(lr)) for lr, cell, _ in (line.split(",") for line in accuracy[1:])] == points


def test_own_best_lists_a_val_tie_as_every_tied_lr(small_run):
    details = json.loads((small_run / "metrics/matched.json").read_text())
    for row in details["own_best"]:
        assert row["best"] in row["lrs"]
        for d in row["differences"]:
            assert (d["lr"] in row["lrs"]) == (d["low"] <= 0 <= d["high"]), row


def test_the_steps_from_rnn_to_lstm_add_up_to_the_whole_gap(small_run):
    """Paired differences on the same draws are additive: at one lr, (tanh − rnn) + (wide − tanh)
    + (lstm − wide) is lstm − rnn exactly, and (gates open − wide) + (lstm − gates open) is
    lstm − wide, in value on every score."""
    result = json.loads((small_run / "metrics/ladder.json").read_text())
    found = {(e["step"], e["score"], e["view"]): e for e in result["verdicts"]}
    paths = {("non-linearity", "capacity", "the LSTM cell"): "the whole gap",
             ("the memory cell", "gates on the memory"): "the LSTM cell"}
    cells = {s.name: (s.model, s.against) for s in ladder.STEPS}
    for path, whole in paths.items():
        chain = [cells[step] for step in path]
        assert all(chain[i][0] == chain[i + 1][1] for i in range(len(chain) - 1))
        assert (chain[-1][0], chain[0][1]) == cells[whole]
        for score in ladder.TABLE_SCORES:
            for view in result["views"][:-1]:
                parts, total = [found[step, score, view] for step in path], found[whole, score, view]
                assert sum(e["difference"] for e in parts) == pytest.approx(total["difference"], abs=3e-6)
