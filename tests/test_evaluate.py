import json
import shutil

import pandas as pd
import pytest
import torch

from stages import dvc_yaml, evaluate, model_file, models, train
from stages.alphabet import encode
from stages.data import Encoded, predict_log_probs, read_categories, read_encoded
from stages.scores import SCORES, score_log_probs
from tests.conftest import ROOT, call_main, inside, make_project, small_params

EVALUATE_ARGS = dvc_yaml.module_args("evaluate", ROOT / "dvc.yaml")
TRAINED = (0, 1)  # the folds small_run trains


def metrics_of(run, model: str) -> dict:
    return json.loads((run / f"metrics/{model}.json").read_text())


def test_metrics_give_every_score_pooled_per_fold_and_with_an_interval(small_run):
    categories = read_categories(small_run / "data/prepared")
    for model in ("rnn", "lstm"):
        metrics = metrics_of(small_run, model)
        assert metrics["folds"] == list(TRAINED)
        for protocol in ("train", "test"):
            assert list(metrics[protocol]) == list(SCORES)
            for score in metrics[protocol].values():
                assert score["low"] <= score["value"] <= score["high"] and len(score["per_fold"]) == 2
        assert [row["language"] for row in metrics["test_recall"]] == categories
        assert metrics["gradient_flow"]["names"] > 0


def test_rescoring_each_fold_model_on_its_test_file_gives_the_per_fold_values(small_run):
    categories = read_categories(small_run / "data/prepared")
    for model in ("rnn", "lstm"):
        metrics = metrics_of(small_run, model)
        for i, fold in enumerate(TRAINED):
            test = read_encoded(small_run / f"data/prepared/fold-{fold}", ["test"], categories)["test"]
            _, cell, _ = model_file.load(small_run / f"models/{model}/fold-{fold}.pt", categories)
            again = score_log_probs(predict_log_probs(cell, test), test.targets)
            for key in SCORES:
                assert metrics["test"][key]["per_fold"][i] == pytest.approx(again[key], abs=2e-6), (model, key)


def test_pooled_scores_are_over_all_out_of_fold_predictions(small_run):
    """The pooled accuracy is the row-weighted mean of the per-fold accuracies."""
    rows = [len(pd.read_csv(small_run / f"data/prepared/fold-{fold}/test.csv")) for fold in TRAINED]
    accuracy = metrics_of(small_run, "lstm")["test"]["accuracy"]
    pooled = sum(n * a for n, a in zip(rows, accuracy["per_fold"])) / sum(rows)
    assert accuracy["value"] == pytest.approx(pooled, abs=2e-6)


def test_plot_files_cover_every_held_out_name(small_run):
    test_rows = sum(len(pd.read_csv(small_run / f"data/prepared/fold-{fold}/test.csv")) for fold in TRAINED)
    for model in ("rnn", "lstm"):
        confusion = pd.read_csv(small_run / f"plots/confusion/{model}.csv")
        assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == test_rows
        by_length = pd.read_csv(small_run / f"plots/length/{model}.csv", keep_default_na=False)
        assert by_length["length"].tolist() == ["1-4", "5-6", "7-8", "9-10", "11+"]
        assert by_length["names"].sum() == test_rows
        assert ((by_length["low"] <= by_length["accuracy"]) & (by_length["accuracy"] <= by_length["high"])).all()
        gradients = pd.read_csv(small_run / f"plots/gradients/{model}.csv")
        assert gradients["distance"].tolist() == list(range(9))


def test_recall_matches_the_confusion_rows(small_run):
    metrics = metrics_of(small_run, "lstm")
    confusion = pd.read_csv(small_run / "plots/confusion/lstm.csv")
    for row in metrics["test_recall"]:
        actual = confusion[confusion["actual"] == row["language"]]
        assert row["value"] == pytest.approx((actual["predicted"] == row["language"]).mean(), abs=1e-6)


def test_compare_is_lstm_minus_rnn_with_an_interval_for_every_score(small_run):
    compare = json.loads((small_run / "metrics/compare.json").read_text())
    rnn, lstm = metrics_of(small_run, "rnn"), metrics_of(small_run, "lstm")
    for protocol in ("train", "test"):
        for key in SCORES:
            entry = compare[protocol][key]
            assert entry["difference"] == pytest.approx(lstm[protocol][key]["value"] - rnn[protocol][key]["value"],
                                                        abs=2e-6)
            assert entry["low"] <= entry["difference"] <= entry["high"]
    assert len(compare["by_language"]) == 18 and len(compare["by_length"]) == 5
    assert compare["gradient_ratio"]["low"] <= compare["gradient_ratio"]["high"]


def test_length_buckets():
    assert [label for *_, label in evaluate.length_buckets([4, 6])] == ["1-4", "5-6", "7+"]


def test_gradient_flow_of_the_linear_rnn_is_powers_of_its_recurrent_matrix():
    """For the linear RNN, dL/dh at distance k is dL/dh at distance 0 times W_h^k."""
    torch.manual_seed(0)
    model = models.build("rnn", 57, 6, 3)
    names = ["Abcdefghij", "Qrstuvwxyz", "Abcdefghijkl"]
    encoded = Encoded(pd.DataFrame({"name": names, "language": ["B", "C", "A"]}), ["A", "B", "C"])
    rows = evaluate.Rows(names, encoded.targets, encoded.lengths, torch.zeros(3, dtype=torch.long))
    picked, measured = evaluate.gradient_flow({0: model}, {0: encoded}, rows, 10)
    assert sorted(picked.tolist()) == [0, 1, 2]
    w_hidden = model.i2h.weight[:, 57:].detach()
    for row, norms in zip(picked.tolist(), measured):
        letters, lengths = encode([names[row]])
        hidden = model.hidden_before_last(letters, lengths).detach().requires_grad_()
        last = torch.nn.functional.one_hot(letters[-1], 57).float()
        loss = torch.nn.functional.nll_loss(model.i2o(torch.cat([last, hidden], 1)).log_softmax(1),
                                            encoded.targets[row : row + 1])
        (grad,) = torch.autograd.grad(loss, hidden)
        expected = [(grad @ torch.linalg.matrix_power(w_hidden, k)).norm().item() for k in range(9)]
        assert norms.tolist() == pytest.approx(expected, rel=1e-4)


@pytest.fixture
def eval_project(tmp_path, small_run):
    project = make_project(tmp_path / "p", small_params())
    shutil.copytree(small_run / "data/prepared", project / "data/prepared")
    shutil.copytree(small_run / "models", project / "models")
    with inside(project):
        yield project


def run_cli(capsys, *argv) -> tuple[int, str]:
    status = call_main("evaluate", *(argv or EVALUATE_ARGS))
    return status, capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    (lambda p: shutil.rmtree(p / "models/rnn"), "no fold-<i>.pt model files in models/rnn"),
    (lambda p: (p / "models/rnn/fold-0.pt").write_bytes(b"not a model"), "corrupt model file models/rnn/fold-0.pt"),
    (lambda p: (p / "models/lstm/fold-1.pt").write_bytes((p / "models/lstm/fold-1.pt").read_bytes()[:500]),
     "corrupt model file models/lstm/fold-1.pt"),
    (lambda p: shutil.copy(p / "models/rnn/fold-1.pt", p / "models/lstm/fold-1.pt"), "models/lstm mixes models"),
])
def test_missing_or_corrupt_model_is_one_line(eval_project, capsys, damage, message):
    damage(eval_project)
    status, err = run_cli(capsys)
    assert status == 1 and err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not (eval_project / "metrics").exists() and not (eval_project / "plots").exists()


def test_model_trained_on_other_languages_is_refused(eval_project, capsys):
    path = eval_project / "models/rnn/fold-0.pt"
    payload = torch.load(path, weights_only=True)
    payload["categories"] = sorted(payload["categories"][:-1] + ["Klingon"])
    torch.save(payload, path)
    status, err = run_cli(capsys)
    assert status == 1 and "trained on other languages than categories.json" in err


def test_only_the_folds_both_models_have_are_evaluated(eval_project, capsys):
    (eval_project / "models/lstm/fold-1.pt").unlink()
    assert run_cli(capsys)[0] == 0
    assert metrics_of(eval_project, "rnn")["folds"] == [0] == metrics_of(eval_project, "lstm")["folds"]


def test_outputs_go_where_the_arguments_say(eval_project, capsys):
    status, _ = run_cli(capsys, "data/prepared", "--models", "models/rnn", "models/lstm", "--metrics", "o/a.json",
                        "o/b.json", "--compare", "o/c.json", "--confusion", "c", "--length", "l", "--gradients", "g")
    assert status == 0
    assert json.loads((eval_project / "o/b.json").read_text())["test"]["accuracy"]["value"] > 0
    assert "test" in json.loads((eval_project / "o/c.json").read_text())
    assert sorted(p.name for p in (eval_project / "c").iterdir()) == ["lstm.csv", "rnn.csv"]
    assert (eval_project / "l/lstm.csv").exists() and (eval_project / "g/lstm.csv").exists()
    assert not (eval_project / "metrics").exists() and not (eval_project / "plots").exists()


@pytest.mark.parametrize("argv, message", [
    (["data/prepared", "--models", "models/rnn", "--metrics", "a.json", "b.json", "--compare", "c.json",
      "--confusion", "c", "--length", "l", "--gradients", "g"], "expected 2 arguments"),
    (EVALUATE_ARGS + ["--extra"], "unrecognized arguments: --extra"),
])
def test_usage_errors_exit_2(eval_project, capsys, argv, message):
    status, err = run_cli(capsys, *argv)
    assert status == 2 and message in err


def conclusions(compare: dict) -> dict[str, int]:
    """+1 / -1 where the interval lies above / below 0, 0 where it includes 0 ("no difference")."""
    entries = {f"{protocol}.{key}": compare[protocol][key] for protocol in ("train", "test") for key in SCORES}
    entries.update({f"language.{e['language']}": e for e in compare["by_language"]})
    entries.update({f"length.{e['length']}": e for e in compare["by_length"]})
    entries["gradient_ratio"] = compare["gradient_ratio"]
    return {key: (e["low"] > 0) - (e["high"] < 0) for key, e in entries.items()}


@pytest.mark.slow
def test_conclusions_survive_another_summation_order(small_run, tmp_path):
    """threads 1 -> 2 changes the float summation order, much as another CPU does: the trained
    LSTMs then differ, and so do the figures, but every conclusion in compare.json keeps its
    sign or stays "no difference". The default RNN and a 400-step LSTM on folds 0 and 1 give a
    comparison with both kinds of conclusion, so the check cannot pass trivially."""
    params, prepared = small_params(), small_run / "data/prepared"
    compares = []
    for threads in (1, 2):
        out = tmp_path / f"threads-{threads}"
        for model, budget in (("rnn", {"iterations": 1000, "batch_size": 256}),
                              ("lstm", {"iterations": 400, "batch_size": 256})):
            cell = {**params[f"train_{model}"], **budget, "threads": threads, "processes": 3 - threads,
                    "eval_every": 400}
            train.run(model, cell, prepared, out / model, out / f"curves-{model}", out / f"train-{model}.json")
        evaluate.run({**params["evaluate"], "threads": threads}, prepared, [out / "rnn", out / "lstm"],
                     [out / "rnn.json", out / "lstm.json"], out / "compare.json",
                     {kind: out / kind for kind in ("confusion", "length", "gradients")})
        compares.append(json.loads((out / "compare.json").read_text()))
    first, second = (tmp_path / f"threads-{t}/lstm/fold-0.pt" for t in (1, 2))
    assert first.read_bytes() != second.read_bytes()  # the perturbation happened
    assert compares[0] != compares[1]  # and reached the figures
    assert set(conclusions(compares[0]).values()) >= {0, 1}  # both kinds of conclusion are at stake
    assert conclusions(compares[0]) == conclusions(compares[1])
