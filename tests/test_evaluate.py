import json
import shutil

import pandas as pd
import pytest
import torch

from stages import dvc_yaml, evaluate, model_file, models
from stages.alphabet import encode
from stages.data import Encoded, predict_log_probs, read_categories, read_encoded
from stages.scores import score_log_probs
from tests.conftest import ROOT, call_main, inside, make_project, small_params

EVALUATE_ARGS = dvc_yaml.module_args("evaluate", ROOT / "dvc.yaml")


def test_metrics_have_both_protocols_and_per_language_recall(small_run):
    categories = json.loads((small_run / "data/prepared/categories.json").read_text())
    for model in ("rnn", "lstm"):
        metrics = json.loads((small_run / f"metrics/{model}.json").read_text())
        for protocol in ("train", "test"):
            assert set(metrics[protocol]) == {"accuracy", "balanced_accuracy", "macro_f1", "loss"}
            assert 0 <= metrics[protocol]["balanced_accuracy"] <= 1
        assert list(metrics["test_recall"]) == categories
        assert metrics["gradient_flow"]["names"] > 0


def test_plot_files_cover_the_test_split(small_run):
    test_rows = len(pd.read_csv(small_run / "data/prepared/test.csv"))
    for model in ("rnn", "lstm"):
        confusion = pd.read_csv(small_run / f"plots/confusion/{model}.csv")
        assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == test_rows
        by_length = pd.read_csv(small_run / f"plots/length/{model}.csv", keep_default_na=False)
        assert by_length["length"].tolist() == ["1-4", "5-6", "7-8", "9-10", "11+"]
        assert by_length["names"].sum() == test_rows
        gradients = pd.read_csv(small_run / f"plots/gradients/{model}.csv")
        assert gradients["distance"].tolist() == list(range(9))


def test_recall_matches_the_confusion_rows(small_run):
    metrics = json.loads((small_run / "metrics/lstm.json").read_text())
    confusion = pd.read_csv(small_run / "plots/confusion/lstm.csv")
    for language, recall in metrics["test_recall"].items():
        rows = confusion[confusion["actual"] == language]
        assert recall == pytest.approx((rows["predicted"] == language).mean(), abs=1e-6)


def test_length_buckets():
    assert [label for *_, label in evaluate.length_buckets([4, 6])] == ["1-4", "5-6", "7+"]


def test_gradient_flow_of_the_linear_rnn_is_powers_of_its_recurrent_matrix():
    """For the linear RNN, dL/dh at distance k is dL/dh at distance 0 times W_h^k."""
    torch.manual_seed(0)
    model = models.build("rnn", 57, 6, 3)
    encoded = Encoded(pd.DataFrame({"name": ["Abcdefghij"], "language": ["B"]}), ["A", "B", "C"])
    measured = evaluate.gradient_flow(model, encoded, 10)["grad_norm"].tolist()
    letters, lengths = encode(["Abcdefghij"])
    hidden = model.hidden_before_last(letters, lengths).detach().requires_grad_()
    last = torch.nn.functional.one_hot(letters[-1], 57).float()
    loss = torch.nn.functional.nll_loss(model.i2o(torch.cat([last, hidden], 1)).log_softmax(1), torch.tensor([1]))
    (grad,) = torch.autograd.grad(loss, hidden)
    w_hidden = model.i2h.weight[:, 57:].detach()
    expected = [(grad @ torch.linalg.matrix_power(w_hidden, k)).norm().item() for k in range(9)]
    assert measured == pytest.approx(expected, rel=1e-4)


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
    (lambda p: (p / "models/rnn.pt").unlink(), "model file models/rnn.pt not found"),
    (lambda p: (p / "models/rnn.pt").write_bytes(b"not a model"), "corrupt model file models/rnn.pt"),
    (lambda p: (p / "models/lstm.pt").write_bytes((p / "models/lstm.pt").read_bytes()[:500]),
     "corrupt model file models/lstm.pt"),
])
def test_missing_or_corrupt_model_is_one_line(eval_project, capsys, damage, message):
    damage(eval_project)
    status, err = run_cli(capsys)
    assert status == 1 and err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not (eval_project / "metrics").exists() and not (eval_project / "plots").exists()


def test_model_trained_on_other_languages_is_refused(eval_project, capsys):
    path = eval_project / "models/rnn.pt"
    payload = torch.load(path, weights_only=True)
    payload["categories"] = sorted(payload["categories"][:-1] + ["Klingon"])
    torch.save(payload, path)
    status, err = run_cli(capsys)
    assert status == 1 and "trained on other languages than categories.json" in err


def test_outputs_go_where_the_arguments_say(eval_project, capsys):
    status, _ = run_cli(capsys, "data/prepared", "--models", "models/lstm.pt", "--metrics", "out/m.json",
                        "--confusion", "c", "--length", "l", "--gradients", "g")
    assert status == 0
    assert json.loads((eval_project / "out/m.json").read_text())["test"]["accuracy"] > 0
    assert sorted(p.name for p in (eval_project / "c").iterdir()) == ["lstm.csv"]
    assert (eval_project / "l/lstm.csv").exists() and (eval_project / "g/lstm.csv").exists()
    assert not (eval_project / "metrics").exists() and not (eval_project / "plots").exists()


@pytest.mark.parametrize("argv, message", [
    (["data/prepared", "--models", "models/rnn.pt", "--metrics", "a.json", "b.json", "--confusion", "c",
      "--length", "l", "--gradients", "g"], "1 --models but 2 --metrics"),
    (EVALUATE_ARGS + ["--extra"], "unrecognized arguments: --extra"),
])
def test_usage_errors_exit_2(eval_project, capsys, argv, message):
    status, err = run_cli(capsys, *argv)
    assert status == 2 and message in err


def test_metrics_match_a_rescoring_of_the_model_file(small_run):
    """The shared scoring path: evaluate's figures equal scoring the saved model again."""
    categories = read_categories(small_run / "data/prepared")
    test = read_encoded(small_run / "data/prepared", ["test"], categories)["test"]
    _, model, _ = model_file.load(small_run / "models/rnn.pt", categories)
    again = score_log_probs(predict_log_probs(model, test), test.targets)
    saved = json.loads((small_run / "metrics/rnn.json").read_text())["test"]
    assert saved == {key: round(value, 6) for key, value in again.items()}
