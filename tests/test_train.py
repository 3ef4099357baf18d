import math
import shutil

import pandas as pd
import pytest
import torch

from stages import train
from stages.io import ProjectError
from tests.conftest import make_project, run_stage, small_params

GOOD = {"hidden_size": 8, "optimizer": "adam", "lr": 0.01, "batch_size": 4, "iterations": 3, "eval_every": 1,
        "sampler": "balanced", "grad_clip": 0, "seed": 0, "threads": 1}


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


def test_balanced_sampler_draws_languages_uniformly_and_natural_as_they_occur():
    rows = [(f"Aa{i}", "A") for i in range(90)] + [(f"Bb{i}", "B") for i in range(10)]
    rows = [(name.rstrip("0123456789") + "x" * (i % 5), lang) for i, (name, lang) in enumerate(rows)]
    split = train.Split(frame(rows), ["A", "B"])
    for kind, expected_b in (("balanced", 0.5), ("natural", 0.1)):
        sampler = train.Sampler(split, kind, torch.Generator().manual_seed(0))
        drawn = split.targets[sampler.draw(20000)].double().mean().item()
        assert drawn == pytest.approx(expected_b, abs=0.02), kind


@pytest.mark.parametrize("loss", [math.nan, math.inf, 2e4])
def test_non_finite_or_exploding_loss_stops_naming_the_step(loss):
    with pytest.raises(ProjectError, match=r"train_rnn: training loss .* at step 17 is .*lower train_rnn.lr"):
        train.check_loss(loss, 17, "train_rnn")


def test_a_real_divergence_is_caught():
    rows = [("Abcdefghijklmnop" * 2, "A"), ("Qrstuvwxyz" * 3, "B")] * 8
    split = train.Split(frame(rows), ["A", "B"])
    params = {**GOOD, "lr": 1e3, "iterations": 200, "eval_every": 200, "hidden_size": 32}
    with pytest.raises(ProjectError, match="train_rnn: training loss .* at step"):
        train.train("rnn", params, split, split, log=lambda message: None)


def test_training_learns_something(small_run):
    curves = pd.read_csv(small_run / "plots/curves/lstm.csv")
    assert list(curves.columns) == train.CURVE_COLUMNS
    assert curves["step"].tolist() == [20, 40, 60]
    assert curves["val_accuracy"].iloc[-1] > 3 / 18  # chance is 1/18
    assert curves["train_loss"].iloc[-1] < curves["train_loss"].iloc[0]


def test_same_params_give_byte_identical_models_and_curves(tmp_path, small_run):
    """Retrain in a second directory and compare with the session's run, byte for byte."""
    again = make_project(tmp_path / "again", small_params())
    shutil.copytree(small_run / "data/prepared", again / "data/prepared")
    for model in ("rnn", "lstm"):
        result = run_stage("train", model, cwd=again)
        assert result.returncode == 0, result.stderr
        for out in (f"models/{model}.pt", f"plots/curves/{model}.csv"):
            assert (again / out).read_bytes() == (small_run / out).read_bytes(), out


def test_model_file_loads_with_weights_only(small_run):
    payload = torch.load(small_run / "models/lstm.pt", weights_only=True)
    assert payload["model"] == "lstm" and len(payload["categories"]) == 18
    assert set(payload["state_dict"]) >= {"i2i.weight", "i2f.weight", "i2c.weight", "i2g.weight", "i2o.weight"}


def cli_project(tmp_path, small_run, **overrides):
    params = small_params()
    params["train_rnn"].update(overrides)
    project = make_project(tmp_path / "p", params)
    shutil.copytree(small_run / "data/prepared", project / "data/prepared")
    return project


def test_cli_unknown_model(tmp_path, small_run):
    result = run_stage("train", "gru", cwd=cli_project(tmp_path, small_run))
    assert result.returncode == 1 and result.stderr == "error: unknown model 'gru': expected one of rnn, lstm\n"


def test_cli_invalid_lr_writes_nothing(tmp_path, small_run):
    project = cli_project(tmp_path, small_run, lr=0)
    result = run_stage("train", "rnn", cwd=project)
    assert result.returncode == 1 and result.stderr.startswith("error: invalid param train_rnn.lr=0")
    assert not (project / "models").exists() and not (project / "plots").exists()


def test_cli_missing_prepared_data(tmp_path):
    project = make_project(tmp_path / "p", small_params())
    result = run_stage("train", "lstm", cwd=project)
    assert result.returncode == 1 and "run the prepare stage first" in result.stderr
    assert result.stderr.count("\n") == 1


def test_cli_languages_differing_from_categories(tmp_path, small_run):
    project = cli_project(tmp_path, small_run)
    val = project / "data/prepared/val.csv"
    val.write_text(val.read_text().replace(",Arabic", ",Klingon"))
    result = run_stage("train", "rnn", cwd=project)
    assert result.returncode == 1 and "languages differ from categories.json" in result.stderr
    assert "Klingon" in result.stderr
    assert not (project / "models").exists()
