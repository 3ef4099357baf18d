import json
import re

from surnames import ladder, ladder_wording, matched_wording, report, wording
from surnames.scores import SCORES
from tests.helpers import call_main, inside


def test_report_links_only_figures_that_exist(small_run):
    text = (small_run / "report/report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(figures) == 9
    for figure in figures:
        assert (small_run / "report" / figure).stat().st_size > 1000, figure


def test_report_numbers_come_from_the_metrics(small_run):
    text = (small_run / "report/report.md").read_text()
    for model in ("rnn", "lstm"):
        metrics = json.loads((small_run / f"metrics/{model}.json").read_text())
        for protocol in ("train", "test"):
            assert wording.with_interval(metrics[protocol]["balanced_accuracy"]) in text
    compare = json.loads((small_run / "metrics/compare.json").read_text())
    assert wording.interval(compare["test"]["accuracy"]) in text
    assert "| RNN | test: held-out names |" in text and "≈60 %" in text and "folds 0, 1" in text
    for reference in ("baseline", "majority"):
        metrics = json.loads((small_run / f"metrics/{reference}.json").read_text())
        label, accuracy = wording.label(reference), wording.with_interval(metrics["test"]["accuracy"])
        assert f"| {label} | test: held-out names | {accuracy}" in text
    assert "**Against the n-gram baseline**" in text and "Goal check: the course LSTM" in text


def entry(difference, low, high):
    return {"difference": difference, "low": low, "high": high, "per_fold": [difference] * 5, "folds_same_sign": 5}


def score(value, low, high):
    return {"value": value, "low": low, "high": high, "per_fold": [value]}


def fake_inputs(sign: int):
    """A comparison whose intervals all lie above 0 (sign 1), below 0 (-1) or straddle it (0)."""
    def gap(size):
        return entry(sign * size, sign * size - 0.01, sign * size + 0.01) if sign else entry(0.01, -0.02, 0.04)

    compare = {protocol: {key: gap(0.1) for key in SCORES} for protocol in ("train", "test")}
    compare["by_language"] = [{"language": "A", **gap(0.2)}, {"language": "B", **entry(0.0, -0.1, 0.1)}]
    compare["by_length"] = [{"length": "1-4", **gap(0.05)}, {"length": "5+", **entry(0.0, -0.1, 0.1)}]
    compare["length_trend"] = entry(-0.05, -0.2, 0.1)
    compare["gradient_ratio"] = gap(0.3)
    flow = {"names": 5, "max_distance": 8, "ratio_far_to_near": score(1.0, 0.9, 1.1)}
    model = {"train": {"balanced_accuracy": score(0.9, 0.88, 0.92)},
             "test": {"balanced_accuracy": score(0.5, 0.48, 0.52)}, "gradient_flow": flow}
    return {"rnn": model, "lstm": model}, compare


def test_findings_follow_the_intervals_either_way():
    text = wording.findings(*fake_inputs(1))
    assert "accuracy is higher by 10.0 points (95 % interval [9.0, 11.0])" in text
    assert "ahead on 1 of 2 languages (A) and behind on 0 (none); on the other 1 no difference" in text
    assert "ahead on 1-4 letter buckets" in text
    assert "The RNN's gradient falls off faster" in text
    assert "its interval lies above the held-out one" in text
    text = wording.findings(*fake_inputs(-1))
    assert "accuracy is lower by 10.0 points (95 % interval [-11.0, -9.0])" in text
    assert "ahead on 0 of 2 languages (none) and behind on 1 (A)" in text
    assert "does **not** fall off faster" in text
    text = wording.findings(*fake_inputs(0))
    assert "shows no difference measurable with this data (1.0 points, 95 % interval [-2.0, 4.0] includes 0)" in text
    assert "higher by" not in text and "lower by" not in text
    assert "No difference between the two is measurable with this data." in text


def test_summary_reads_its_paths_from_dvc_yaml(small_run, capsys):
    with inside(small_run):
        assert call_main("report", "--summary") == 0
    out = capsys.readouterr().out
    for model, label in (("lstm", "LSTM "), ("baseline", "n-gram baseline"), ("majority", "majority class")):
        metrics = json.loads((small_run / f"metrics/{model}.json").read_text())
        row = next(line for line in out.splitlines() if line.startswith(label) and " test " in line)
        assert wording.with_interval(metrics["test"]["balanced_accuracy"]) in row, (model, out)
    assert "report: report/report.md" in out


def test_a_misspelt_option_is_refused_and_writes_nothing(small_run, capsys):
    before = (small_run / "report/report.md").stat().st_mtime_ns
    with inside(small_run):
        assert call_main("report", "--sumary") == 2
    assert "unrecognized arguments: --sumary" in capsys.readouterr().err
    assert (small_run / "report/report.md").stat().st_mtime_ns == before


def test_report_goes_to_the_out_folder_and_needs_both_models(small_run, tmp_path, capsys):
    plots = [arg for kind in report.PLOT_KINDS for arg in (f"--{kind}", str(small_run / "plots" / kind))]
    common = ["--data-stats", "data/stats.json", "--compare", "metrics/compare.json", *plots,
              "--references", "metrics/baseline.json", "metrics/majority.json",
              "--ladder", *(f"metrics/{cell}.json" for cell in ladder.ABLATIONS),
              "--ladder-plot", str(tmp_path / "l.csv"), "--matched", "metrics/matched.json"]
    with inside(small_run):
        assert call_main("report", *common, "--metrics", "metrics/rnn.json", "metrics/lstm.json",
                         "--out", str(tmp_path / "r")) == 0
        assert (tmp_path / "r/report.md").read_bytes() == (small_run / "report/report.md").read_bytes()
        assert not list((tmp_path / "r").glob(".*"))  # no temporary file left beside the outputs
        assert (tmp_path / "l.csv").read_bytes() == (small_run / "plots/ladder.csv").read_bytes()
        assert call_main("report", *common, "--metrics", "metrics/rnn.json", "--out", str(tmp_path / "s")) == 1
    assert capsys.readouterr().err.startswith("error: the report compares rnn with lstm: no --metrics file lstm.json")
    assert not (tmp_path / "s").exists()


def fake_ladder(forget: float, ratio: float = 1.5, views=("accuracy", "corrected_accuracy"), lstm_lr: float = 0.01):
    """Every rung's metrics, every comparison of the ladder and every cell's params; the forget
    gate's comparison on the scores `views` is `forget` (with a ±0.01 interval), every other one
    straddles 0; each rung's gradient ratio is `ratio`; every cell is trained at Adam 0.01 ×
    500 × 256 but the course LSTM at `lstm_lr`."""
    flow = {"names": 5, "max_distance": 8, "ratio_far_to_near": score(ratio, ratio - 0.1, ratio + 0.1)}
    cells = {m: {"test": {key: score(0.5, 0.49, 0.51) for key in ladder.PAIR_SCORES}, "gradient_flow": flow}
             for m in ladder.RUNGS}
    differences = []
    for pair in ladder.PAIRS:
        for key in ladder.PAIR_SCORES:
            is_forget = key in views and (pair.model, pair.against) in (("lstm", "lstm_forget_open"),
                                                                         ("lstm", "wide_tanh_rnn"), ("lstm", "rnn"))
            value = forget if is_forget else 0.001
            differences.append({"model": pair.model, "against": pair.against, "score": key,
                          **(entry(value, value - 0.01, value + 0.01) if is_forget else entry(value, -0.02, 0.02))})
    by_length = [{"model": s.model, "against": s.against, "length": label, **entry(0.1, 0.05, 0.15)}
                 for s in ladder.PAIRS for label in ("1-4", "11+")]
    trends = [{"model": s.model, "against": s.against, **entry(0.03, -0.01, 0.07)} for s in ladder.PAIRS]
    params = {f"train_{m}": {"optimizer": "adam", "lr": lstm_lr if m == "lstm" else 0.01, "iterations": 500,
                             "batch_size": 256} for m in ladder.RUNGS}
    return cells, {"ladder": differences, "ladder_by_length": by_length, "ladder_length_trend": trends}, params


VIEWS = ("lr 0.003", "lr 0.01", "own best")


def fake_matched(changes: dict | None = None) -> dict:
    """metrics/matched.json with every comparison straddling 0 in every view, but `changes`:
    {(model, against): {view: {score: difference}}}, each with a ±0.01 interval."""
    from surnames import ladder
    changes = changes or {}
    ladders = []
    for view in VIEWS:
        for pair in ladder.PAIRS:
            for key in ladder.PAIR_SCORES:
                value = changes.get((pair.model, pair.against), {}).get(view, {}).get(key)
                ladders.append({"view": view, "model": pair.model, "against": pair.against, "score": key,
                                **(entry(0.001, -0.02, 0.02) if value is None else entry(value, value - 0.01,
                                                                                          value + 0.01))})
    models = [{"cell": cell, "optimizer": "adam", "lr": lr, "iterations": 500, "batch_size": 256, "hidden_size": 128,
               "val_accuracy": 0.5, "val_balanced_accuracy": 0.4 + lr,
               "test": {key: score(0.5, 0.49, 0.51) for key in ladder.PAIR_SCORES}}
              for lr in (0.003, 0.01) for cell in ladder.RUNGS]
    return {"budgets": [{"lr": lr, "optimizer": "adam", "iterations": 500, "batch_size": 256} for lr in (0.003, 0.01)],
            "views": [{"view": view, "cells": [{"cell": cell, "lr": 0.01 if view == "own best" else float(view[3:])}
                                               for cell in ladder.RUNGS]} for view in VIEWS],
            "models": models, "ladders": ladders}


def every_view(**scores) -> dict:
    return {view: scores for view in VIEWS}


def section(cells, compare, params, matched=None):
    return ladder_wording.ladder_section(cells, compare, "ladder.png", params, matched or fake_matched(),
                                         "budgets.png")


def in_short(matched: dict) -> str:
    return matched_wording.in_short(matched)


def test_the_answer_states_a_change_only_where_every_view_agrees():
    both = every_view(accuracy=0.12, corrected_accuracy=0.05)
    text = in_short(fake_matched({("lstm", "wide_tanh_rnn"): both, ("lstm", "rnn"): both}))
    assert "raw and prior-corrected, the LSTM beats the course RNN in every view." in text
    assert "what holds in every view: gating raises it in every view." in text
    assert ("- Gating raises it in every view (accuracy +12.0 [+11.0, +13.0] at lr 0.003, +12.0 [+11.0, +13.0] at "
            "lr 0.01, +12.0 [+11.0, +13.0] at each cell's own best; prior-corrected accuracy +5.0 [+4.0, +6.0] at lr "
            "0.003") in text
    assert "- Capacity changes it measurably in no view (accuracy +0.1 [-2.0, +2.0] at lr 0.003" in text
    lower = every_view(accuracy=-0.12, corrected_accuracy=-0.05)
    text = in_short(fake_matched({("lstm", "wide_tanh_rnn"): lower, ("lstm", "rnn"): lower}))
    assert "the course RNN beats the LSTM in every view." in text and "gating lowers it in every view" in text


def test_the_answer_claims_nothing_when_made_up_views_disagree():
    """Gating raises accuracy at both matched budgets but lowers it at the cells' own best: not
    a contribution, and the words say that it depends on the budget, and where it goes which way."""
    views = every_view(accuracy=0.12, corrected_accuracy=0.05)
    views["own best"] = {"accuracy": -0.05, "corrected_accuracy": 0.05}
    text = in_short(fake_matched({("lstm", "wide_tanh_rnn"): views, ("lstm", "rnn"): views}))
    assert "No single change between them holds in every view" in text
    assert ("- Gating depends on the budget: it raises accuracy at lr 0.003 and at lr 0.01, lowers it at each "
            "cell's own best; raises prior-corrected accuracy in every view (accuracy") in text
    assert "whether the LSTM beats the course RNN depends on the budget." in text
    raw_only = every_view(accuracy=0.12)  # prior-corrected straddles 0 everywhere
    text = in_short(fake_matched({("lstm", "wide_tanh_rnn"): raw_only}))
    assert ("- Gating depends on the score: it raises accuracy in every view; changes prior-corrected accuracy "
            "measurably in no view") in text
    assert "No single change between them holds in every view" in text


def test_the_ladder_section_names_the_change_the_intervals_single_out():
    text = section(*fake_ladder(0.12))
    assert "capacity no difference measurable (+0.1 [-2.0, +2.0]: at most 2.0 points either way)" in text
    assert "It shrinks for no cell" in text
    assert "no change with length is measurable (11+ − 1-4 letters: +3.0 [-1.0, +7.0] points" in text
    assert "| yes | +12.0 [+11.0, +13.0] 5/5 |" in text
    assert "| LSTM (course) − tanh RNN (LSTM-sized) | +0.1 [-2.0, +2.0] 5/5 | +0.1 [-2.0, +2.0] 5/5 |" in text
    assert "3. **Gates.** Held-out accuracy, with every rung trained alike and at each rung's own best: gating" in text
    text = section(*fake_ladder(-0.12, ratio=0.5))
    assert "What lowers it measurably: gating." in text
    assert "It shrinks (interval below 1) for RNN (course), tanh RNN" in text


def test_a_comparison_of_cells_not_trained_alike_is_marked_so():
    text = section(*fake_ladder(0.12, lstm_lr=0.003))
    assert "| no: lr 0.003 vs 0.01 |" in text and "gating (not trained alike) +12.0" in text


def test_a_length_verdict_says_when_its_cells_were_not_trained_alike():
    alike = section(*fake_ladder(0.12))
    claim = next(line for line in alike.splitlines() if line.startswith("2. **Long-range memory.**"))
    assert "not trained alike" not in claim and "depends on the step count" in claim
    text = section(*fake_ladder(0.12, lstm_lr=0.003))
    claim = next(line for line in text.splitlines() if line.startswith("2. **Long-range memory.**"))
    assert claim.count("(not trained alike: lr 0.003 vs 0.01)") == 2, claim  # both of its comparisons


def test_the_ladder_section_s_numbers_come_from_the_metrics(small_run):
    text = (small_run / "report/report.md").read_text()
    compare = json.loads((small_run / "metrics/compare.json").read_text())
    assert "## Why the LSTM wins" in text and "![the ablation ladder](ladder.png)" in text
    for e in compare["ladder"]:
        assert wording.signed(e) in text, e
    for cell in ladder.ABLATIONS:
        metrics = json.loads((small_run / f"metrics/{cell}.json").read_text())
        assert wording.with_interval(metrics["test"]["balanced_accuracy"]) in text
    frame = (small_run / "plots/ladder.csv").read_text().splitlines()
    assert frame[0] == "rung,model,kind,score,value,low,high" and len(frame) == 1 + 2 * (len(ladder.RUNGS) + 1)
