import copy
import json
import re

import pandas as pd

from stages import report
from tests.conftest import call_main, inside


def test_report_links_only_figures_that_exist(small_run):
    text = (small_run / "report/report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(figures) == 7
    for figure in figures:
        assert (small_run / "report" / figure).stat().st_size > 1000, figure


def test_report_numbers_come_from_the_metrics(small_run):
    text = (small_run / "report/report.md").read_text()
    for model in ("rnn", "lstm"):
        metrics = json.loads((small_run / f"metrics/{model}.json").read_text())
        for protocol in ("train", "test"):
            assert report.pct(metrics[protocol]["balanced_accuracy"]) in text
    assert "| RNN | test: held-out names |" in text and "≈60 %" in text


def fake_inputs(lstm_better: bool):
    languages = ["A", "B"]
    strong = {"accuracy": 0.8, "balanced_accuracy": 0.8, "macro_f1": 0.8, "loss": 0.5}
    weak = {"accuracy": 0.4, "balanced_accuracy": 0.4, "macro_f1": 0.4, "loss": 1.5}
    flow = lambda ratio: {"names": 5, "max_distance": 8, "norm_at_last_letter": 1.0,  # noqa: E731
                          "norm_at_max_distance": ratio, "ratio_far_to_near": ratio}
    good = {"train": strong, "test": strong, "test_recall": {"A": 0.9, "B": 0.7}, "gradient_flow": flow(0.5)}
    bad = {"train": weak, "test": weak, "test_recall": {"A": 0.3, "B": 0.7}, "gradient_flow": flow(0.01)}
    metrics = {"lstm": good, "rnn": bad} if lstm_better else {"lstm": copy.deepcopy(bad), "rnn": copy.deepcopy(good)}
    if not lstm_better:
        metrics["lstm"]["gradient_flow"], metrics["rnn"]["gradient_flow"] = flow(0.01), flow(0.5)
    length = pd.DataFrame({"length": ["1-4", "11+"], "names": [3, 4], "accuracy": [0.5, 0.6]})
    return metrics, {"rnn": length, "lstm": length}, languages


def test_findings_follow_the_numbers_either_way():
    metrics, by_length, languages = fake_inputs(lstm_better=True)
    text = report.findings(metrics, by_length, languages)
    assert "(80.0 %) is higher than the RNN's (40.0 %)" in text
    assert "behind on none; tied on B" in text
    assert "The RNN's gradient falls off faster" in text
    metrics, by_length, languages = fake_inputs(lstm_better=False)
    text = report.findings(metrics, by_length, languages)
    assert "(40.0 %) is lower than the RNN's (80.0 %)" in text
    assert "behind on A" in text
    assert "does **not** fall off faster" in text


def test_summary_reads_its_paths_from_dvc_yaml(small_run, capsys):
    with inside(small_run):
        assert call_main("report", "--summary") == 0
    out = capsys.readouterr().out
    lstm = json.loads((small_run / "metrics/lstm.json").read_text())
    assert "LSTM  test" in out and report.pct(lstm["test"]["balanced_accuracy"]) in out
    assert "report: report/report.md" in out


def test_a_misspelt_option_is_refused_and_writes_nothing(small_run, tmp_path, capsys):
    before = (small_run / "report/report.md").stat().st_mtime_ns
    with inside(small_run):
        assert call_main("report", "--sumary") == 2
    assert "unrecognized arguments: --sumary" in capsys.readouterr().err
    assert (small_run / "report/report.md").stat().st_mtime_ns == before


def test_report_goes_to_the_out_folder_and_needs_both_models(small_run, tmp_path, capsys):
    plots = [arg for kind in report.PLOT_KINDS for arg in (f"--{kind}", str(small_run / "plots" / kind))]
    with inside(small_run):
        assert call_main("report", "--data-metrics", "metrics/data.json", "--metrics", "metrics/rnn.json",
                         "metrics/lstm.json", *plots, "--out", str(tmp_path / "r")) == 0
        assert (tmp_path / "r/report.md").read_bytes() == (small_run / "report/report.md").read_bytes()
        assert not list((tmp_path / "r").glob(".*"))  # no temporary file left beside the outputs
        assert call_main("report", "--data-metrics", "metrics/data.json", "--metrics", "metrics/rnn.json",
                         *plots, "--out", str(tmp_path / "s")) == 1
    assert capsys.readouterr().err.startswith("error: the report compares rnn with lstm: no --metrics file lstm.json")
    assert not (tmp_path / "s").exists()
