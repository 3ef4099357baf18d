"""evaluate: the paired comparisons, read from the scoring stages' predictions."""
import json

import pandas as pd
import pytest

from surnames import dvc_yaml, evaluate, ladder, score, train
from surnames.scores import SCORES
from tests.helpers import ROOT, assert_one_line, call_main, small_params

EVALUATE_ARGS = dvc_yaml.module_args("evaluate", ROOT / "dvc.yaml")
PLOTS = ("confusion", "length", "gradients")


def read(path) -> dict:
    return json.loads(path.read_text())


def test_compare_is_lstm_minus_rnn_with_an_interval_for_every_score(small_run):
    compare = read(small_run / "metrics/compare.json")
    rnn, lstm = read(small_run / "metrics/rnn.json"), read(small_run / "metrics/lstm.json")
    assert compare["folds"] == [0, 1]
    for protocol in ("train", "test"):
        for key in SCORES:
            entry = compare[protocol][key]
            assert entry["difference"] == pytest.approx(lstm[protocol][key]["value"] - rnn[protocol][key]["value"],
                                                        abs=2e-6)
            assert entry["low"] <= entry["difference"] <= entry["high"]
    assert len(compare["by_language"]) == 18 and len(compare["by_length"]) == 5
    assert compare["gradient_ratio"]["low"] <= compare["gradient_ratio"]["high"]
    assert compare["test_balanced_accuracy"] == {m: read(small_run / f"metrics/{m}.json")["test"]["balanced_accuracy"]
                                                 ["value"] for m in ("rnn", "lstm")}


def test_the_baseline_is_compared_on_the_folds_the_cells_have(small_run):
    compare = read(small_run / "metrics/compare.json")
    assert [(e["model"], e["score"]) for e in compare["vs_baseline"]] == [
        (m, key) for m in ("rnn", "lstm") for key in ladder.TABLE_SCORES]
    for entry in compare["vs_baseline"]:
        assert entry["low"] <= entry["difference"] <= entry["high"] and len(entry["per_fold"]) == 2


def run_cli(capsys, *argv) -> tuple[int, str]:
    status = call_main("evaluate", *(argv or EVALUATE_ARGS))
    return status, capsys.readouterr().err


def test_a_model_against_itself_differs_by_exactly_zero_on_every_draw(eval_project, capsys):
    """The pairing: both sides of a comparison are scored on the same resampled names, so a
    model compared with itself has a zero-width interval (unpaired draws would give a wide one)."""
    status, _ = run_cli(capsys, "data/prepared", "--pair", "predictions/lstm.csv", "predictions/lstm.csv",
                        "--compare", "c.json")
    assert status == 0
    compare = read(eval_project / "c.json")
    for protocol in ("train", "test"):
        for key in SCORES:
            assert compare[protocol][key]["low"] == compare[protocol][key]["difference"] == 0
            assert compare[protocol][key]["high"] == 0


def test_only_the_folds_both_models_have_are_compared(eval_project, capsys):
    path = eval_project / "predictions/lstm.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame[frame["fold"] != "1"].to_csv(path, index=False)
    assert run_cli(capsys)[0] == 0
    compare = read(eval_project / "metrics/compare.json")
    assert compare["folds"] == [0] and len(compare["test"]["accuracy"]["per_fold"]) == 1


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "predictions/rnn.csv").unlink(), "cannot read predictions/rnn.csv"),
    (lambda p: (p / "predictions/rnn.csv").write_text("a,b\n1,2\n"), "predictions/rnn.csv must have columns"),
    (lambda p: (p / "predictions/lstm.csv").write_text(
        (p / "predictions/lstm.csv").read_text().replace(",test,", ",test,", 1).replace("\ntest,0,", "\ntest,0,Zz",
                                                                                         1)),
     "the test predictions of lstm and rnn are not on the same names"),
    (lambda p: (p / "predictions/rnn.csv").write_text(
        (p / "predictions/rnn.csv").read_text().replace(",Arabic,", ",Klingon,", 1)), "unknown languages ['Klingon']"),
])
def test_a_missing_or_damaged_predictions_file_is_one_line_and_writes_nothing(eval_project, capsys, damage, message):
    damage(eval_project)
    status, err = run_cli(capsys)
    assert_one_line(err, status, message, anywhere=True)
    assert not (eval_project / "metrics").exists()


def conclusions(compare: dict) -> dict[str, int]:
    """+1 / -1 where the interval lies above / below 0, 0 where it includes 0 ("no difference")."""
    entries = {f"{protocol}.{key}": compare[protocol][key] for protocol in ("train", "test") for key in SCORES}
    entries.update({f"language.{e['language']}": e for e in compare["by_language"]})
    entries.update({f"length.{e['length']}": e for e in compare["by_length"]})
    entries["gradient_ratio"] = compare["gradient_ratio"]
    return {key: (e["low"] > 0) - (e["high"] < 0) for key, e in entries.items()}


@pytest.mark.slow
def test_conclusions_survive_another_summation_order(prepared, tmp_path):
    """threads 1 -> 2 changes the float summation order, much as another CPU does: the trained
    LSTMs then differ, and so do the figures, but every conclusion in compare.json keeps its
    sign or stays "no difference". The default RNN and a 400-step LSTM on folds 0 and 1 give a
    comparison with both kinds of conclusion, so the check cannot pass trivially."""
    params = small_params()
    compares = []
    for threads in (1, 2):
        out = tmp_path / f"threads-{threads}"
        for model, budget in (("rnn", {"iterations": 1000, "batch_size": 256}),
                              ("lstm", {"iterations": 400, "batch_size": 256})):
            cell = {**params[f"train_{model}"], **budget, "threads": threads, "processes": 3 - threads,
                    "eval_every": 400}
            train.run(model, cell, prepared, out / model, out / f"curves-{model}", out / f"train-{model}.json")
        for model in ("rnn", "lstm"):
            paths = score.Paths(out / f"{model}.json", out / f"{model}.csv",
                                *(out / f"{kind}-{model}.csv" for kind in PLOTS))
            score.run(model, {**params["evaluate"], "threads": threads}, prepared, out / model, paths,
                      params[f"train_{model}"])
        evaluate.run({**params["evaluate"], "threads": threads}, prepared, [out / "rnn.csv", out / "lstm.csv"],
                     None, out / "compare.json")
        compares.append(json.loads((out / "compare.json").read_text()))
    first, second = (tmp_path / f"threads-{t}/lstm/fold-0.pt" for t in (1, 2))
    assert first.read_bytes() != second.read_bytes()  # the perturbation happened
    assert compares[0] != compares[1]  # and reached the figures
    assert set(conclusions(compares[0]).values()) >= {0, 1}  # both kinds of conclusion are at stake
    assert conclusions(compares[0]) == conclusions(compares[1])
