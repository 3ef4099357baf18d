"""The scoring stages: one model's metrics, plot data and per-name predictions."""
import json
import math
import shutil

import pandas as pd
import pytest
import torch

from surnames import cells, dvc_yaml, ladder, model_file, score
from surnames.alphabet import encode
from surnames.data import Encoded, Split, predict_log_probs, read_categories, read_encoded
from surnames.predictions import Predictions, Rows
from surnames.predictions import read as read_predictions
from surnames.scores import SCORES, score_log_probs
from tests.helpers import ROOT, assert_one_line, call_main

TRAINED = (0, 1)  # the folds small_run trains the cells on


def metrics_of(run, model: str) -> dict:
    return json.loads((run / f"metrics/{model}.json").read_text())


def test_metrics_give_every_score_pooled_per_fold_and_with_an_interval(small_run):
    categories = read_categories(small_run / "data/prepared")
    for model in ("rnn", "lstm"):
        metrics = metrics_of(small_run, model)
        assert metrics["folds"] == list(TRAINED)
        for protocol in ("train", "test"):
            assert list(metrics[protocol]) == list(SCORES)
            for entry in metrics[protocol].values():
                assert entry["low"] <= entry["value"] <= entry["high"] and len(entry["per_fold"]) == 2
        assert [row["language"] for row in metrics["test_recall"]] == categories
        assert metrics["gradient_flow"]["names"] > 0


def test_rescoring_each_fold_model_on_its_test_file_gives_the_per_fold_values(small_run):
    categories = read_categories(small_run / "data/prepared")
    for model in ("rnn", "lstm"):
        metrics = metrics_of(small_run, model)
        for i, fold in enumerate(TRAINED):
            split = read_encoded(small_run / f"data/prepared/fold-{fold}", ["train", "test"], categories)
            test = split["test"]
            _, cell, _ = model_file.load(small_run / f"models/{model}/fold-{fold}.pt", categories)
            log_probs = predict_log_probs(cell, test)
            again = score_log_probs(log_probs, test.targets)
            frequencies = torch.bincount(split["train"].targets, minlength=len(categories)) / len(split["train"])
            corrected = (log_probs + frequencies.log()).argmax(1)  # the cells train under the balanced draw
            again["corrected_accuracy"] = float((corrected == test.targets).double().mean())
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


def test_reference_models_are_scored_on_every_fold_they_have(small_run):
    for model in ("baseline", "majority"):
        metrics = metrics_of(small_run, model)
        assert metrics["folds"] == [0, 1, 2, 3, 4] and "gradient_flow" not in metrics
        assert [row["language"] for row in metrics["test_recall"]] == read_categories(small_run / "data/prepared")


def test_the_predictions_file_holds_every_row_of_both_protocols_and_reads_back_exactly(small_run):
    """evaluate's paired comparisons start from this file: its NLL must be the very float
    the model computed, and its held-out rows every test name of the scored folds."""
    categories = read_categories(small_run / "data/prepared")
    frame = pd.read_csv(small_run / "predictions/lstm.csv", dtype=str, keep_default_na=False)
    for protocol in ("train", "test"):
        expected = sum(len(pd.read_csv(small_run / f"data/prepared/fold-{f}/{protocol}.csv")) for f in TRAINED)
        assert (frame["protocol"] == protocol).sum() == expected
    scored = read_predictions(small_run / "predictions/lstm.csv", categories)
    fold_rows = scored.predictions["test"].rows.fold == 1
    test = read_encoded(small_run / "data/prepared/fold-1", ["test"], categories)["test"]
    _, cell, _ = model_file.load(small_run / "models/lstm/fold-1.pt", categories)
    log_probs = predict_log_probs(cell, test)
    nll = torch.nn.functional.nll_loss(log_probs, test.targets, reduction="none").double()
    assert torch.equal(scored.predictions["test"].nll[fold_rows], nll)
    assert torch.equal(scored.predictions["test"].predicted[fold_rows], log_probs.argmax(1))
    gradients = metrics_of(small_run, "lstm")["gradient_flow"]
    assert len(scored.gradients.picked) == gradients["names"]
    assert scored.gradients.norms.shape[1] == gradients["max_distance"] + 1
    assert not math.isnan(float(scored.gradients.norms.sum()))


def test_length_buckets():
    assert [label for *_, label in score.length_buckets([4, 6])] == ["1-4", "5-6", "7+"]


def test_gradient_flow_of_the_linear_rnn_is_powers_of_its_recurrent_matrix():
    """For the linear RNN, dL/dh at distance k is dL/dh at distance 0 times W_h^k."""
    torch.manual_seed(0)
    model = cells.build("rnn", 57, 6, 3)
    names = ["Abcdefghij", "Qrstuvwxyz", "Abcdefghijkl"]
    encoded = Encoded(Split(names, ["B", "C", "A"]), ["A", "B", "C"])
    flow = score.gradient_flow({0: model}, {0: encoded}, 10)
    picked, measured = flow.picked, flow.norms
    assert picked.tolist() == [0, 1, 2]  # by length, then row
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


def run_cli(capsys, *argv) -> tuple[int, str]:
    """The score stage with `argv`; its exit status and stderr."""
    status = call_main("score", *argv)
    return status, capsys.readouterr().err


def run_stage(capsys, stage: str) -> tuple[int, str]:
    """A score@<cell> stage with dvc.yaml's arguments."""
    return run_cli(capsys, *dvc_yaml.module_args(stage, ROOT / "dvc.yaml"))


@pytest.mark.parametrize("damage, message", [
    (lambda p: shutil.rmtree(p / "models/rnn"), "no fold-<i>.pt model files in models/rnn"),
    (lambda p: (p / "models/rnn/fold-0.pt").write_bytes(b"not a model"), "corrupt model file models/rnn/fold-0.pt"),
    (lambda p: (p / "models/rnn/fold-1.pt").write_bytes((p / "models/rnn/fold-1.pt").read_bytes()[:500]),
     "corrupt model file models/rnn/fold-1.pt"),
    (lambda p: shutil.copy(p / "models/lstm/fold-1.pt", p / "models/rnn/fold-1.pt"),
     "models/rnn/fold-1.pt holds a lstm model, not rnn"),
])
def test_missing_or_corrupt_model_is_one_line_and_writes_nothing(score_project, capsys, damage, message):
    damage(score_project)
    status, err = run_stage(capsys, "score@rnn")
    assert_one_line(err, status, message)
    assert not any((score_project / d).exists() for d in ("metrics", "plots", "predictions"))


def test_model_trained_on_other_languages_is_refused(score_project, capsys):
    path = score_project / "models/rnn/fold-0.pt"
    payload = torch.load(path, weights_only=True)
    payload["categories"] = sorted(payload["categories"][:-1] + ["Klingon"])
    torch.save(payload, path)
    status, err = run_stage(capsys, "score@rnn")
    assert status == 1 and "trained on other languages than categories.json" in err


def test_outputs_go_where_the_arguments_say(score_project, capsys):
    status, _ = run_cli(capsys, "lstm", "data/prepared", "--models", "models/lstm", "--metrics", "o/m.json",
                        "--predictions", "o/p.csv", "--confusion", "o/c.csv", "--length", "o/l.csv",
                        "--gradients", "o/g.csv")
    assert status == 0
    assert json.loads((score_project / "o/m.json").read_text())["test"]["accuracy"]["value"] > 0
    assert sorted(p.name for p in (score_project / "o").iterdir()) == ["c.csv", "g.csv", "l.csv", "m.json", "p.csv"]
    assert not any((score_project / d).exists() for d in ("metrics", "plots", "predictions"))


@pytest.mark.parametrize("argv, message, code", [
    (["gru", "data/prepared", "--metrics", "m.json", "--predictions", "p.csv"], "invalid choice: 'gru'", 2),
    (["rnn", "data/prepared", "--models", "models/rnn", "--metrics", "m.json", "--predictions", "p.csv"],
     "give all three", 1),
    (["majority", "data/prepared", "--models", "models/rnn", "--metrics", "m.json", "--predictions", "p.csv"],
     "the majority class needs no model folder", 1),
    (["baseline", "data/prepared", "--metrics", "m.json", "--predictions", "p.csv", "--extra"],
     "unrecognized arguments: --extra", 2),
])
def test_usage_errors_are_one_line(score_project, capsys, argv, message, code):
    status, err = run_cli(capsys, *argv)
    assert_one_line(err, status, message, anywhere=True, code=code)


def test_the_prior_correction_on_a_hand_computed_example():
    """Two languages, A 90 % of the fold's training names and B 10 %; a model trained under
    the balanced draw says P(B) = 0.6 for one name and 0.95 for another. Bayes' rule: A for the
    first (0.4 x 0.9 = 0.36 > 0.6 x 0.1 = 0.06), B for the second (0.05 x 0.9 = 0.045 <
    0.95 x 0.1 = 0.095). Trained twice over the prior (balanced draw and balanced loss), the
    frequencies count twice: A for both (0.05 x 0.81 > 0.95 x 0.01)."""
    train = torch.tensor([0] * 9 + [1])
    log_probs = torch.tensor([[0.4, 0.6], [0.05, 0.95]]).log()
    rows = score.Rows(["x", "y"], torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([0, 0]))
    for power, expected in ((0, [1, 1]), (1, [0, 1]), (2, [0, 0])):
        offsets = {0: score.prior_offsets(train, 2, power)}
        predicted = score.predict_rows({0: lambda encoded: log_probs}, {0: None}, rows, offsets)
        assert predicted.predicted.tolist() == [1, 1] and predicted.corrected.tolist() == expected, power
    assert score.prior_power("lstm", {"sampler": "balanced", "loss_weights": "none"}) == 1
    assert score.prior_power("lstm", {"sampler": "natural", "loss_weights": "none"}) == 0
    assert score.prior_power("baseline", {"class_weight": "balanced"}) == 1
    assert score.prior_power("majority", None) == 0


def test_accuracy_by_length_from_bins_is_the_products_definition():
    generator = torch.Generator().manual_seed(0)
    n = 500
    rows = Rows([f"n{i}" for i in range(n)], torch.randint(3, (n,), generator=generator),
                torch.randint(1, 15, (n,), generator=generator), torch.zeros(n, dtype=torch.long))
    p = Predictions(rows, torch.randint(3, (n,), generator=generator), rows.targets, torch.zeros(n, dtype=torch.double))
    weights = torch.randint(0, 4, (7, n), generator=generator).double()
    weights[0, rows.lengths <= 4] = 0  # an empty bucket: NaN, as 0 / 0
    inside = torch.stack([(rows.lengths >= low) & (rows.lengths <= high)
                          for low, high, _ in score.length_buckets([4, 6, 8])], 1).double()
    correct = (p.predicted == rows.targets).double().unsqueeze(1) * inside
    expected = (weights @ correct) / (weights @ inside)
    torch.testing.assert_close(score.length_statistic(p, [4, 6, 8])(weights), expected, rtol=0, atol=0,
                               equal_nan=True)


@pytest.mark.parametrize("model", ladder.RUNGS)
def test_the_gradient_flow_of_a_fold_in_one_batch_is_each_name_s_own(model):
    """Right-aligned names of several lengths in one letter_by_letter give each name the norms it
    gets alone."""
    torch.manual_seed(1)
    cell = cells.build(model, 57, 6, 3)
    names = ["Abcdefghijk", "Qrstuvwxyz", "Abcdefghijklmn", "Short", "Mnopqrstuvwx"]
    encoded = Encoded(Split(names, ["B", "C", "A", "A", "B"]), ["A", "B", "C"])
    flow = score.gradient_flow({0: cell}, {0: encoded}, 10)
    assert flow.picked.tolist() == [1, 0, 4, 2]  # 10, 11, 12 and 14 letters; Short is left out
    for row, norms in zip(flow.picked.tolist(), flow.norms):
        letters, lengths = encode([names[row]])
        alone = score.gradient_norms(cell, letters, lengths, encoded.targets[row : row + 1], 9)
        torch.testing.assert_close(norms.unsqueeze(0), alone, rtol=1e-5, atol=1e-7)
