import json
import math
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages import predict, train
from tests.conftest import ROOT, call_main, inside, make_project, run_stage, small_params


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_run):
    """A project whose LSTM folds 0 and 1 are the default cell on a shorter budget (400 steps
    of 256), in the folder dvc.yaml gives, beside small_run's small-budget RNN."""
    params = small_params()["train_lstm"]
    params.update({"iterations": 400, "eval_every": 400, "batch_size": 256})
    project = make_project(tmp_path_factory.mktemp("trained"), small_params())
    shutil.copytree(small_run / "data/prepared", project / "data/prepared")
    shutil.copytree(small_run / "models", project / "models")
    out = tmp_path_factory.mktemp("trained_out")
    train.run("lstm", params, project / "data/prepared", project / predict.trained_models("lstm", project / "dvc.yaml"),
              out / "curves", out / "summary.json")
    return project


@pytest.fixture(scope="module")
def lstm(trained):
    return predict.load_cells(trained / "models/lstm", "lstm")


@pytest.mark.parametrize("name, language", [
    ("Paraskevopoulos", "Greek"), ("Alexandropoulos", "Greek"), ("Angelopoulos", "Greek"),
    ("Matsumoto", "Japanese"), ("Higashiyama", "Japanese"), ("Nakamura", "Japanese"),
])
def test_well_known_held_out_surnames(trained, name, language):
    """Each name through the one fold model that never saw it."""
    (fold,) = [f for f in (0, 1) if f"\n{name},{language}\n" in
               (trained / f"data/prepared/fold-{f}/test.csv").read_text()]
    cells, categories = predict.load_cells(trained / f"models/lstm/fold-{fold}.pt", "lstm")
    (result,) = predict.predict(cells, categories, [name], top=1)
    assert result["predictions"][0]["language"] == language


def test_the_ensemble_averages_the_fold_models(lstm):
    cells, categories = lstm
    assert len(cells) == 2
    alone = [predict.predict([cell], categories, ["Kobayashi"], top=18)[0]["predictions"] for cell in cells]
    (both,) = predict.predict(cells, categories, ["Kobayashi"], top=18)
    mean = {p["language"]: (p["probability"] + q["probability"]) / 2
            for p in alone[0] for q in alone[1] if p["language"] == q["language"]}
    for p in both["predictions"]:
        assert p["probability"] == pytest.approx(mean[p["language"]], abs=1e-4)


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


def test_cli_predicts_the_others_and_exits_1_for_an_unusable_name(trained, capsys):
    with inside(trained):
        status = call_main("predict", "--top", "2", "Kobayashi", "ßß-", "Stavropoulos")
    out, err = capsys.readouterr()
    assert status == 1
    assert err == "error: 'ßß-' has no usable letters (the model reads only " \
        "\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'\")\n"
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["Kobayashi", "Stavropoulos"]
    assert lines[0].split("\t")[1].startswith("Japanese ")


def test_cli_reads_stdin_and_writes_json(trained):
    """A real process, so that stdin's bytes are decoded as a user's shell would give them."""
    stdin = "Matsumoto\n\n🙂\x00\nNguyễn\n" + "a" * 5000 + "\n"
    result = run_stage("predict", "--json", "--model", "lstm", cwd=trained, stdin=stdin)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    documents = json.loads(result.stdout)
    assert [d["folded"][:8] for d in documents] == ["Matsumot", "", "Nguyen", "aaaaaaaa"]
    assert documents[0]["predictions"][0]["language"] == "Japanese"


@pytest.mark.parametrize("content, message", [
    (None, "no fold-<i>.pt model files in models/rnn"),
    (b"\x00garbage", "corrupt model file models/rnn/fold-0.pt"),
])
def test_cli_missing_or_corrupt_model(tmp_path, capsys, content, message):
    """The default models are the folder dvc.yaml's train_rnn stage writes."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path)
    (tmp_path / "models/rnn").mkdir(parents=True)
    if content is not None:
        (tmp_path / "models/rnn/fold-0.pt").write_bytes(content)
    with inside(tmp_path):
        status = call_main("predict", "--model", "rnn", "Smith")
    err = capsys.readouterr().err
    assert status == 1 and err.startswith(f"error: {message}") and err.count("\n") == 1


def test_cli_model_path_option_and_no_dvc_yaml(trained, tmp_path, capsys):
    with inside(tmp_path):
        assert call_main("predict", "--model-path", str(trained / "models/lstm/fold-0.pt"), "Kobayashi") == 0
        assert capsys.readouterr().out.startswith("Kobayashi\tJapanese ")
        assert call_main("predict", "Kobayashi") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read the stages of dvc.yaml") and err.count("\n") == 1


def test_cli_refuses_a_model_file_of_another_model(trained, capsys):
    with inside(trained):
        assert call_main("predict", "--model", "lstm", "--model-path", "models/rnn", "Smith") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: models/rnn/fold-0.pt holds a rnn model, not lstm") and err.count("\n") == 1
