import json
import math
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages import models, predict
from tests.conftest import make_project, run_stage, small_params


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_run):
    """The default LSTM cell and optimizer, trained on a shorter budget (400 steps of 256)."""
    params = small_params()
    params["train_lstm"].update({"iterations": 400, "eval_every": 400, "batch_size": 256, "threads": 2})
    project = make_project(tmp_path_factory.mktemp("trained"), params)
    shutil.copytree(small_run / "data/prepared", project / "data/prepared")
    result = run_stage("train", "lstm", cwd=project)
    assert result.returncode == 0, result.stderr
    return project


@pytest.fixture(scope="module")
def lstm(trained):
    return models.load(trained / "models/lstm.pt")


@pytest.mark.parametrize("name, language", [
    ("Gavrilopoulos", "Greek"), ("Stavropoulos", "Greek"), ("Manoukarakis", "Greek"),
    ("Matsumoto", "Japanese"), ("Kobayashi", "Japanese"), ("Higashiyama", "Japanese"),
    ("Thai", "Vietnamese"),
])
def test_well_known_test_split_surnames(trained, lstm, name, language):
    test_split = (trained / "data/prepared/test.csv").read_text()
    assert f"\n{name},{language}\n" in test_split  # held out: never seen in training
    (result,) = predict.predict(*lstm, [name], top=1)
    assert result["predictions"][0]["language"] == language


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.one_of(st.text(), st.text(min_size=2000, max_size=6000)), min_size=1, max_size=4),
       top=st.integers(1, 30))
def test_any_unicode_gets_a_prediction_or_a_clean_error(lstm, names, top):
    results = predict.predict(*lstm, names, top)
    assert [r["name"] for r in results] == names
    for r in results:
        if r["folded"]:
            assert "error" not in r and len(r["predictions"]) == min(top, 18)
            probabilities = [p["probability"] for p in r["predictions"]]
            assert all(math.isfinite(p) and 0 <= p <= 1 for p in probabilities)
            assert probabilities == sorted(probabilities, reverse=True)
            assert sum(probabilities) <= 1 + 0.00005 * len(probabilities) + 1e-9  # each rounded to 4 places
        else:
            assert "has no usable letters" in r["error"] and "predictions" not in r


def test_cli_predicts_the_others_and_exits_1_for_an_unusable_name(trained):
    result = run_stage("predict", "--top", "2", "Kobayashi", "ßß-", "Stavropoulos", cwd=trained)
    assert result.returncode == 1
    assert result.stderr == "error: 'ßß-' has no usable letters (the model reads only " \
        "\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'\")\n"
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["Kobayashi", "Stavropoulos"]
    assert lines[0].split("\t")[1].startswith("Japanese ")


def test_cli_reads_stdin_and_writes_json(trained):
    stdin = "Matsumoto\n\n🙂\x00\nNguyễn\n" + "a" * 5000 + "\n"
    result = run_stage("predict", "--json", "--model", "lstm", cwd=trained, stdin=stdin)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    documents = json.loads(result.stdout)
    assert [d["folded"][:8] for d in documents] == ["Matsumot", "", "Nguyen", "aaaaaaaa"]
    assert documents[0]["predictions"][0]["language"] == "Japanese"


@pytest.mark.parametrize("content, message", [
    (None, "model file models/rnn.pt not found"),
    (b"\x00garbage", "corrupt model file models/rnn.pt"),
])
def test_cli_missing_or_corrupt_model(tmp_path, content, message):
    (tmp_path / "models").mkdir()
    if content is not None:
        (tmp_path / "models/rnn.pt").write_bytes(content)
    result = run_stage("predict", "--model", "rnn", "Smith", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1
