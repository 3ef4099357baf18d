import shutil

import pandas as pd
import pytest
import torch
import yaml

from stages import train
from stages.data import Encoded
from stages.errors import ProjectError
from tests.conftest import call_main, inside, make_project, small_params

GOOD = {"hidden_size": 8, "optimizer": "adam", "lr": 0.01, "batch_size": 4, "iterations": 3, "eval_every": 1,
        "sampler": "balanced", "grad_clip": 0, "seed": 0, "threads": 1}
RNN_ARGS = ["rnn", "data/prepared", "models/rnn.pt", "plots/curves/rnn.csv", "metrics/train_rnn.json"]


@pytest.mark.parametrize("key, value", [
    ("lr", 0), ("lr", -0.1), ("batch_size", 0), ("iterations", 0), ("optimizer", "rmsprop"),
    ("sampler", "shuffled"), ("grad_clip", -1), ("hidden_size", 1.5), ("threads", 0), ("eval_every", "often"),
])
def test_invalid_params_are_refused(key, value):
    with pytest.raises(ProjectError, match=f"invalid param train_rnn.{key}="):
        train.check_params({**GOOD, key: value}, "train_rnn")


def test_valid_params_pass():
    assert train.check_params(dict(GOOD), "train_rnn") == GOOD


def frame(rows):
    return pd.DataFrame(rows, columns=["name", "language"])


def test_a_real_divergence_is_caught():
    rows = [("Abcdefghijklmnop" * 2, "A"), ("Qrstuvwxyz" * 3, "B")] * 8
    encoded = Encoded(frame(rows), ["A", "B"])
    params = {**GOOD, "lr": 1e3, "iterations": 200, "eval_every": 200, "hidden_size": 32}
    with pytest.raises(ProjectError, match="train_rnn: training loss .* at step"):
        train.train("rnn", params, encoded, encoded, log=lambda message: None)


def test_training_learns_something(small_run):
    curves = pd.read_csv(small_run / "plots/curves/lstm.csv")
    assert list(curves.columns) == train.CURVE_COLUMNS
    assert curves["step"].tolist() == [20, 40, 60]
    assert curves["val_accuracy"].iloc[-1] > 3 / 18  # chance is 1/18
    assert curves["train_loss"].iloc[-1] < curves["train_loss"].iloc[0]


def test_summary_has_no_timings_so_equal_params_give_equal_files(small_run):
    summary = (small_run / "metrics/train_lstm.json").read_text()
    assert "seconds" not in summary and '"final"' in summary and '"best"' in summary


def test_same_params_give_byte_identical_outputs(tmp_path, small_run):
    """Retrain in a second folder and compare with the session's run, byte for byte."""
    params = small_params()
    for model in ("rnn", "lstm"):
        outs = [tmp_path / f"{model}.pt", tmp_path / f"{model}.csv", tmp_path / f"{model}.json"]
        train.run(model, params[f"train_{model}"], small_run / "data/prepared", *outs)
        originals = [f"models/{model}.pt", f"plots/curves/{model}.csv", f"metrics/train_{model}.json"]
        for out, original in zip(outs, originals):
            assert out.read_bytes() == (small_run / original).read_bytes(), original


@pytest.fixture
def project(tmp_path, small_run):
    """A project folder with prepared data and no other outputs, as the current directory."""
    project = make_project(tmp_path / "p", small_params())
    shutil.copytree(small_run / "data/prepared", project / "data/prepared")
    with inside(project):
        yield project


def set_rnn_param(project, **changes):
    params = small_params()
    params["train_rnn"].update(changes)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def one_line_error(capsys, status, expected: str):
    err = capsys.readouterr().err
    assert status == 1 and err.startswith(f"error: {expected}") and err.count("\n") == 1, err


def test_cli_writes_where_it_is_told(project, capsys):
    assert call_main("train", "rnn", "data/prepared", "a/model.pt", "b/curves.csv", "c/summary.json") == 0
    assert torch.load(project / "a/model.pt", weights_only=True)["model"] == "rnn"
    assert (project / "b/curves.csv").exists() and (project / "c/summary.json").exists()
    assert not (project / "models").exists() and not (project / "plots").exists()


def test_cli_unknown_model(project, capsys):
    one_line_error(capsys, call_main("train", "gru", *RNN_ARGS[1:]), "unknown model 'gru': expected one of rnn, lstm")


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
    assert status == 1 and "run the prepare stage first" in err and err.count("\n") == 1


def test_cli_languages_differing_from_categories(project, capsys):
    val = project / "data/prepared/val.csv"
    val.write_text(val.read_text().replace(",Arabic", ",Klingon"))
    status = call_main("train", *RNN_ARGS)
    err = capsys.readouterr().err
    assert status == 1 and "languages differ from categories.json" in err and "Klingon" in err
    assert not (project / "models").exists()


def test_model_file_loads_with_weights_only(small_run):
    payload = torch.load(small_run / "models/lstm.pt", weights_only=True)
    assert payload["model"] == "lstm" and len(payload["categories"]) == 18
    assert set(payload["state_dict"]) >= {"i2i.weight", "i2f.weight", "i2c.weight", "i2g.weight", "i2o.weight"}
