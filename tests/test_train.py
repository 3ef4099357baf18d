import json
import shutil

import pandas as pd
import pytest
import torch

from surnames import train
from surnames.alphabet import encode
from surnames.data import Encoded, Split
from surnames.errors import ProjectError
from tests.helpers import RNN_ARGS, assert_one_line, call_main, one_line_error, set_rnn_param, small_params

GOOD = {"hidden_size": 8, "optimizer": "adam", "lr": 0.01, "batch_size": 4, "iterations": 3, "eval_every": 1,
        "sampler": "balanced", "grad_clip": 0, "seed": 0, "threads": 1, "folds": [0], "processes": 1,
        "loss_weights": "none", "weight_decay": 0.0, "keep": "final", "select_by": "balanced_accuracy",
        "lr_schedule": "none", "dropout": 0.0}


def split(rows):
    return Split([name for name, _ in rows], [language for _, language in rows])


def test_a_real_divergence_is_caught():
    rows = [("Abcdefghijklmnop" * 2, "A"), ("Qrstuvwxyz" * 3, "B")] * 8
    encoded = Encoded(split(rows), ["A", "B"])
    params = {**GOOD, "lr": 1e3, "iterations": 200, "eval_every": 200, "hidden_size": 32}
    with pytest.raises(ProjectError, match="train_rnn: training loss .* at step"):
        train.train("rnn", params, encoded, encoded)


def test_training_learns_something_on_every_fold(small_run):
    for fold in (0, 1):
        curves = pd.read_csv(small_run / f"plots/curves/lstm/fold-{fold}.csv")
        assert list(curves.columns) == train.CURVE_COLUMNS
        assert curves["step"].tolist() == [20, 40, 60]
        assert curves["val_accuracy"].iloc[-1] > 3 / 18  # chance is 1/18
        assert curves["train_loss"].iloc[-1] < curves["train_loss"].iloc[0]
    assert sorted(p.name for p in (small_run / "models/lstm").iterdir()) == ["fold-0.pt", "fold-1.pt"]


def test_folds_have_their_own_seed_and_the_mean_curve_averages_them(small_run):
    folds = [pd.read_csv(small_run / f"plots/curves/rnn/fold-{fold}.csv") for fold in (0, 1)]
    assert not folds[0].equals(folds[1])
    mean = pd.read_csv(small_run / "plots/curves/rnn/mean.csv")
    assert mean["val_accuracy"].tolist() == pytest.approx(((folds[0]["val_accuracy"] + folds[1]["val_accuracy"])
                                                           / 2).tolist(), abs=2e-6)
    assert (mean["val_accuracy_min"] <= mean["val_accuracy"]).all()
    assert (mean["val_accuracy"] <= mean["val_accuracy_max"]).all()


def test_summary_has_no_timings_so_equal_params_give_equal_files(small_run):
    summary = json.loads((small_run / "metrics/train_lstm.json").read_text())
    assert "seconds" not in json.dumps(summary) and [f["fold"] for f in summary["folds"]] == [0, 1]
    assert summary["kept_mean"]["val_accuracy"] == pytest.approx(
        sum(f["final"]["val_accuracy"] for f in summary["folds"]) / 2, abs=1e-6)


def test_same_params_give_byte_identical_outputs_in_one_process_or_several(tmp_path, small_run):
    """Retrain in one process (the session's run used two) and compare, byte for byte."""
    params = {**small_params()["train_rnn"], "processes": 1}
    train.run("rnn", params, small_run / "data/prepared", tmp_path / "m", tmp_path / "c", tmp_path / "s.json")
    for fold in (0, 1):
        assert (tmp_path / f"m/fold-{fold}.pt").read_bytes() == (small_run / f"models/rnn/fold-{fold}.pt").read_bytes()
        assert (tmp_path / f"c/fold-{fold}.csv").read_bytes() == \
            (small_run / f"plots/curves/rnn/fold-{fold}.csv").read_bytes()
    assert (tmp_path / "s.json").read_bytes() == (small_run / "metrics/train_rnn.json").read_bytes()


def test_cli_writes_where_it_is_told(project, capsys):
    assert call_main("train", "rnn", "data/prepared", "a/models", "b/curves", "c/summary.json") == 0
    assert torch.load(project / "a/models/fold-1.pt", weights_only=True)["model"] == "rnn"
    assert (project / "b/curves/fold-0.csv").exists() and (project / "c/summary.json").exists()
    assert not (project / "models").exists() and not (project / "plots").exists()


def test_cli_refuses_a_fold_that_prepare_did_not_make(project, capsys):
    set_rnn_param(project, folds=[0, 7])
    one_line_error(capsys, call_main("train", *RNN_ARGS), "params.yaml: train_rnn.folds lists fold 7")
    assert not (project / "models/rnn").exists()


def test_a_failing_fold_in_a_worker_is_one_line_and_writes_nothing(project, capsys):
    set_rnn_param(project, lr=1e3, iterations=200, hidden_size=64, processes=2)
    status = call_main("train", *RNN_ARGS)
    err = capsys.readouterr().err
    assert_one_line(err, status, "train_rnn fold ")
    assert "lower train_rnn.lr" in err, err
    assert not (project / "models/rnn").exists() and not (project / "plots/curves/rnn").exists()
    assert not list((project / "models").glob(".*")) and not list((project / "plots/curves").glob(".*"))


def test_cli_unknown_model(project, capsys):
    one_line_error(capsys, call_main("train", "gru", *RNN_ARGS[1:]),  # a cell of the ladder only
                   "unknown model 'gru': expected a course cell, rnn or lstm")


def test_cli_refuses_unknown_arguments(project, capsys):
    assert call_main("train", *RNN_ARGS, "--fast") == 2
    assert "unrecognized arguments: --fast" in capsys.readouterr().err


def test_cli_invalid_lr_writes_nothing(project, capsys):
    set_rnn_param(project, lr=0)
    one_line_error(capsys, call_main("train", *RNN_ARGS), "invalid param train_rnn.lr=0")
    assert not (project / "models").exists() and not (project / "plots").exists()


def test_cli_missing_prepared_data(project, capsys):
    shutil.rmtree(project / "data/prepared")
    status = call_main("train", *RNN_ARGS)
    err = capsys.readouterr().err
    assert_one_line(err, status, "run the prepare stage first", anywhere=True)


def test_cli_languages_differing_from_categories(project, capsys):
    val = project / "data/prepared/fold-1/val.csv"
    val.write_text(val.read_text().replace(",Arabic", ",Klingon"))
    status = call_main("train", *RNN_ARGS)
    err = capsys.readouterr().err
    assert status == 1 and "fold-1/val.csv languages differ from categories.json" in err and "Klingon" in err
    assert not (project / "models/rnn").exists()


def test_model_file_loads_with_weights_only(small_run):
    payload = torch.load(small_run / "models/lstm/fold-0.pt", weights_only=True)
    assert payload["model"] == "lstm" and len(payload["categories"]) == 18
    assert set(payload["state_dict"]) >= {"i2i.weight", "i2f.weight", "i2c.weight", "i2g.weight", "i2o.weight"}


def tiny_sets():
    rows = [(f"{stem}{'x' * (i % 4)}", language) for i in range(12)
            for stem, language in (("Abc", "A"), ("Qrs", "B"), ("Mno", "C"))]
    rows += [("Zzyzx", "C")] * 2
    encoded = Encoded(split(rows), ["A", "B", "C"])
    return encoded, encoded


def random_set(seed: int, size: int = 60) -> Encoded:
    """Random letters with random languages: val scores then wander, so best and last differ."""
    generator = torch.Generator().manual_seed(seed)
    letters = "abcdefghij"
    rows = [("".join(letters[i] for i in torch.randint(10, (5,), generator=generator).tolist()),
             "ABC"[int(torch.randint(3, (1,), generator=generator))]) for _ in range(size)]
    return Encoded(split(rows), ["A", "B", "C"])


def test_keep_best_returns_the_best_val_weights_not_the_last():
    train_set, val_set = random_set(1), random_set(2)
    params = {**GOOD, "lr": 0.05, "iterations": 40, "eval_every": 2, "hidden_size": 16, "grad_clip": 1.0,
              "keep": "best", "select_by": "accuracy"}
    model, curves, _, kept = train.train("lstm", params, train_set, val_set)
    scores = [row["val_accuracy"] for row in curves]
    assert scores[-1] < max(scores)  # the last checkpoint is not the best: the test can tell them apart
    assert kept == curves[scores.index(max(scores))]["step"]
    assert train.validate(model, val_set)["accuracy"] == max(scores)
    final, *_ = train.train("lstm", {**params, "keep": "final"}, train_set, val_set)
    assert train.validate(final, val_set)["accuracy"] == scores[-1]


def test_balanced_loss_weights_are_inverse_class_frequencies_and_reach_the_loss():
    train_set, _ = tiny_sets()
    weights = train.class_weights(train_set)
    counts = torch.bincount(train_set.targets).float()
    assert torch.allclose(weights * counts, torch.full((3,), len(train_set) / 3))
    torch.manual_seed(0)
    model = train.cells.build("rnn", 57, 4, 3)
    batch = train_set.batch(torch.arange(len(train_set)))
    log_probs = model(*batch[:2]).detach()
    picked = -log_probs[torch.arange(len(train_set)), batch[2]]
    expected = (picked * weights[batch[2]]).sum() / weights[batch[2]].sum()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = train.optimizer_step(model, optimizer, batch, 0, 1, "train_rnn", "", weights)
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_weight_decay_means_adamw_and_cosine_decays_the_lr_to_zero():
    model = train.cells.build("rnn", 57, 4, 3)
    optimizer = train.make_optimizer({**GOOD, "weight_decay": 0.01}, model)
    assert optimizer.decoupled and optimizer.weight_decay == 0.01
    assert not train.make_optimizer(GOOD, model).decoupled
    schedule = train.make_schedule({**GOOD, "lr_schedule": "cosine", "iterations": 10}, optimizer)
    lrs = []
    for step in range(1, 11):
        optimizer.step()
        schedule(step)
        lrs.append(optimizer.lr)
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] == pytest.approx(0, abs=1e-12) and lrs[0] < GOOD["lr"]
    torch_lrs = torch.optim.lr_scheduler.CosineAnnealingLR(torch.optim.SGD(model.parameters(), lr=GOOD["lr"]), 10)
    expected = []
    for _ in range(10):
        torch_lrs.optimizer.step()
        torch_lrs.step()
        expected.append(torch_lrs.get_last_lr()[0])
    assert lrs == pytest.approx(expected, rel=1e-9, abs=1e-15)  # torch's schedule, in closed form
    assert train.make_schedule(GOOD, optimizer) is None


def test_dropout_acts_in_training_only_and_leaves_the_course_cell_as_it_was():
    torch.manual_seed(0)
    model = train.cells.build("lstm", 57, 32, 3)
    model.hidden_dropout = 0.5
    course_layers = {f"{layer}.{p}" for layer in ("i2i", "i2o", "i2f", "i2c", "i2g") for p in ("weight", "bias")}
    assert set(model.state_dict()) == course_layers  # the course cell's five Linear layers, nothing added
    assert not any(isinstance(module, torch.nn.Dropout) for module in model.modules())
    letters, lengths = encode(["Abcdef", "Qrs"])
    assert not torch.equal(model(letters, lengths), model(letters, lengths))
    model.eval()
    assert torch.equal(model(letters, lengths), model(letters, lengths))
