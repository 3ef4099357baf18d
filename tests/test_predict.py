import json
import math
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surnames import cells, ladder, model_file, predict, tfidf
from surnames.alphabet import ALPHABET, transliterate
from surnames.data import read_categories, read_split
from tests.helpers import ROOT, assert_one_line, call_main, inside, make_project, run_module, small_params


@pytest.mark.parametrize("name, language", [
    ("Paraskevopoulos", "Greek"), ("Alexandropoulos", "Greek"), ("Angelopoulos", "Greek"),
    ("Matsumoto", "Japanese"), ("Higashiyama", "Japanese"), ("Nakamura", "Japanese"),
])
def test_well_known_held_out_surnames(trained, name, language):
    """Each name through the one fold model that never saw it, under a uniform prior (the cell's own
    output): this short-trained model is not sure enough of every one to outweigh Russian's ~1/2 of the data."""
    (fold,) = [f for f in (0, 1) if f"\n{name},{language}\n" in
               (trained / f"data/prepared/fold-{f}/test.csv").read_text()]
    cells, categories = predict.load_ensemble(trained / f"models/lstm/fold-{fold}.pt", "lstm", "uniform")
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
        if 0 < len(r["transliterated"]) <= predict.MAX_LETTERS and len(r["name"]) <= predict.MAX_CHARS:
            assert "error" not in r and len(r["predictions"]) == min(top, 18)
            probabilities = [p["probability"] for p in r["predictions"]]
            assert all(math.isfinite(p) and 0 <= p <= 1 for p in probabilities)
            assert probabilities == sorted(probabilities, reverse=True)
            assert sum(probabilities) <= 1 + 0.00005 * len(probabilities) + 1e-9  # each rounded to 4 places
        else:
            assert "predictions" not in r and "\n" not in r["error"] and len(r["error"]) < 600
            expected = ("is longer than" if len(r["name"]) > predict.MAX_CHARS else
                        "has no usable letters" if not r["transliterated"] else "over the limit of 64")
            assert expected in r["error"]


def test_long_names_are_refused_and_batches_stay_bounded():
    """A recording stand-in for a cell: what reaches the model is bounded whatever the input."""
    seen = []

    def recorder(transliterated):
        seen.append(transliterated)
        return torch.zeros(len(transliterated), 3).log_softmax(1)

    limit = predict.MAX_LETTERS
    names = ["Nakamura"] * 6000 + ["a" * 20_000, "b" * (limit + 1), "c" * limit, " " * 5 + "d" * limit + "é"]
    results = predict.predict([recorder], ["X", "Y", "Z"], names, top=1)
    assert [r["name"] for r in results] == names
    assert "longer than 1024 characters" in results[-4]["error"] and len(results[-4]["error"]) < 200
    assert f"has {limit + 1} letters after transliteration, over the limit of {limit}" in results[-3]["error"]
    assert "error" not in results[-2] and "error" in results[-1]  # 65 letters once é folds to e
    assert sum(len(batch) for batch in seen) == 6001
    assert [name for batch in seen for name in batch] == [transliterate(n) for n in names[:6000]] + ["c" * limit]
    assert len(seen) > 1 and all(sum(map(len, batch)) <= predict.BATCH_LETTERS for batch in seen)
    assert max(len(name) for batch in seen for name in batch) == limit


def test_ten_thousand_names_and_a_huge_line_fit_in_bounded_memory(trained):
    """The issue's case, as a user runs it, under an address-space limit: before, the huge
    line was padded into one batch with every other name (6.7 GB for the full-size models)."""
    names = (trained / "data/prepared/fold-0/train.csv").read_text().splitlines()[1:]
    lines = [line.split(",")[0] for line in names][:10_000]
    stdin = "\n".join(lines[:5000] + ["x" * 20_000] + lines[5000:]) + "\n"
    limit = 3 << 29  # 1.5 GiB of address space (it runs in 1 GiB); before, one tensor alone was 1.6 GB
    # One thread and two malloc arenas, so that the address space mapped does not grow with the CPU count
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    result = subprocess.run([sys.executable, "-m", "surnames.predict", "--model", "lstm"], cwd=trained,
                            input=stdin, capture_output=True, text=True, timeout=120, env=env,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert_one_line(result.stderr, result.returncode, "is longer than 1024 characters", anywhere=True)
    assert len(result.stdout.splitlines()) == len(lines)


def test_cli_predicts_the_others_and_exits_1_for_an_unusable_name(trained, capsys):
    with inside(trained):
        status = call_main("surnames.predict", "--top", "2", "Kobayashi", "ßß-", "Stavropoulos")
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
    result = run_module("surnames.predict", "--json", "--model", "lstm", cwd=trained, stdin=stdin)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    documents = json.loads(result.stdout)
    assert [d["transliterated"][:8] for d in documents] == ["Matsumot", "", "Nguyen", "aaaaaaaa"]
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
        status = call_main("surnames.predict", "--model", "rnn", "Smith")
    err = capsys.readouterr().err
    assert_one_line(err, status, message)


def test_cli_model_path_option_and_no_dvc_yaml(trained, tmp_path, capsys):
    with inside(tmp_path):
        assert call_main("surnames.predict", "--model-path", str(trained / "models/lstm/fold-0.pt"), "Kobayashi") == 0
        assert capsys.readouterr().out.startswith("Kobayashi\tJapanese ")
        status = call_main("surnames.predict", "Kobayashi")
    assert_one_line(capsys.readouterr().err, status, "cannot read the stages of dvc.yaml")


def test_cli_refuses_a_model_file_of_another_model(trained, capsys):
    with inside(trained):
        status = call_main("surnames.predict", "--model", "lstm", "--model-path", "models/rnn", "Smith")
    assert_one_line(capsys.readouterr().err, status, "models/rnn/fold-0.pt holds a rnn model, not lstm")


def test_cli_json_is_valid_for_binary_junk_on_stdin(trained):
    """Undecodable bytes, NUL, ESC and a line of 100 000 zero bytes: one ASCII JSON array, an
    entry per non-blank line in input order, and exit status 1 because some were refused."""
    stdin = b"Matsumoto\n\xff\xfe\x80junk\n\x1b[31mNakamura\x00\n" + b"\x00" * 100_000 + b"\nNguy\xe1\xbb\x85n\n"
    result = subprocess.run([sys.executable, "-m", "surnames.predict", "--json"], cwd=trained, input=stdin,
                            capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    text = result.stdout.decode("ascii")  # ASCII is valid UTF-8 whatever the terminal
    documents = json.loads(text)
    assert text == json.dumps(documents, indent=2) + "\n"
    assert [d["name"] for d in documents] == ["Matsumoto", "\ufffd\ufffd\ufffdjunk", "\x1b[31mNakamura\x00",
                                              "\x00" * predict.MAX_LINE_BYTES, "Nguy\u1ec5n"]  # the huge line, cut
    assert [d["transliterated"][:9] for d in documents] == ["Matsumoto", "junk", "mNakamura", "", "Nguyen"]
    assert ["error" in d for d in documents] == [False, False, False, True, False]
    assert "is longer than 1024 characters" in documents[3]["error"]
    assert_one_line(result.stderr.decode(), result.returncode, "is longer than 1024 characters", anywhere=True)


def test_cli_json_lists_every_refused_name_and_exits_1(trained):
    result = run_module("surnames.predict", "--json", cwd=trained, stdin="123\n-\n")
    assert result.returncode == 1
    assert [d["name"] for d in json.loads(result.stdout)] == ["123", "-"]
    assert result.stderr.count("error: ") == 2


def test_cli_escapes_control_characters_in_tsv(trained, capsys):
    names = ["Kob\tayashi", "Mat\nsu\rmoto", "\x1b[2JNakamura\x00", "Back\\slash\u200b", "Nguyễn"]
    with inside(trained):
        assert call_main("surnames.predict", "--top", "2", *names) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines.pop() == "" and len(lines) == len(names)
    assert [line.split("\t")[0] for line in lines] == [
        "Kob\\tayashi", "Mat\\nsu\\rmoto", "\\x1b[2JNakamura\\x00", "Back\\\\slash\\u200b", "Nguyễn"]
    assert all(line.count("\t") == 1 and line.split("\t")[1].count(", ") == 1 for line in lines)


def test_predict_imports_only_what_it_needs():
    code = "import sys, surnames.predict; print(sorted({m.split('.')[0] for m in sys.modules} & " \
           "{'pandas', 'sklearn', 'matplotlib', 'scipy', 'numpy.random'}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout == "[]\n", result.stderr


def test_cli_refuses_a_cell_file_that_holds_the_other_cell(trained, tmp_path, capsys):
    """The file says lstm, its weights are the RNN's: one line naming the file."""
    payload = torch.load(trained / "models/rnn/fold-0.pt", weights_only=True)
    torch.save({**payload, "model": "lstm"}, tmp_path / "fold-0.pt")
    with inside(trained):
        assert call_main("surnames.predict", "--model", "lstm", "--model-path", str(tmp_path), "Smith") == 1
    err = capsys.readouterr().err
    assert err == f"error: corrupt model file {tmp_path / 'fold-0.pt'}: it says lstm but holds rnn weights\n"


def test_cli_refuses_the_baseline_for_a_cell(trained, capsys):
    with inside(trained):
        status = call_main("surnames.predict", "--model", "rnn", "--model-path", "models/baseline/fold-0.pt", "Smith")
    assert_one_line(capsys.readouterr().err, status, "models/baseline/fold-0.pt holds a baseline model, not rnn")


ABLATIONS = tuple(cell for cell in cells.CELLS if cell not in ladder.COURSE)  # trained only in the ladder's grid


@pytest.mark.parametrize("cell", ABLATIONS)
def test_cli_predicts_with_every_ablation_cell(small_run, capsys, cell):
    """predict --model <cell> names the ladder's folders; --model-path one of them predicts."""
    with inside(small_run):
        assert call_main("surnames.predict", "--model", cell, "Nguyen") == 1
        err = capsys.readouterr().err
        folders = sorted(str(folder) for folder in Path("models/ladder").glob(f"{cell}-*"))
        assert_one_line(err, 1, f"no stage of dvc.yaml trains {cell} on its own: it is trained only in the "
                        f"ladder's grid; pass --model-path models/ladder/{cell}-<lr> (here: {', '.join(folders)})\n")
        assert call_main("surnames.predict", "--model", cell, "--model-path", folders[0], "Nguyen", "Schmidt") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["Nguyen", "Schmidt"]
    assert all(len(line.split("\t")[1].split(", ")) == 3 for line in lines)


# --prior: tiny model files whose output is known by hand (every weight 0 but the output bias, so
# each name gets softmax(bias) = OUTPUT), with training counts and prior powers chosen so that the
# expected probabilities are fractions: under prior pi a fold model gives OUTPUT * pi / freq ** (1 - power),
# renormalised, and the ensemble averages the fold models.
OUTPUT = [0.5, 0.25, 0.25]
THREE = ["A", "B", "C"]


def constant_cell(path, output=OUTPUT, **prior):
    model = cells.build("rnn", len(ALPHABET), 2, len(output))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.i2o.bias.copy_(torch.tensor(output).log())
    model_file.save(path, "rnn", model, THREE, **prior)
    return path


@pytest.fixture
def two_folds(tmp_path):
    """fold 0: frequencies 1/4, 1/2, 1/4, power 1 (the balanced draw); fold 1: 3/4, 1/4, 0, power 0."""
    constant_cell(tmp_path / "fold-0.pt", train_counts=[1, 2, 1], prior_power=1)
    constant_cell(tmp_path / "fold-1.pt", train_counts=[3, 1, 0], prior_power=0)
    return tmp_path


def predicted(capsys, folder, *options) -> list[dict]:
    assert call_main("surnames.predict", "--model", "rnn", "--model-path", str(folder), "--json", *options,
                     "Smith", "Nguyen") == 0
    documents = json.loads(capsys.readouterr().out)
    assert documents[0]["predictions"] == documents[1]["predictions"]  # the output does not depend on the name
    return documents


def test_prior_data_on_a_hand_computed_ensemble(two_folds, capsys):
    """fold 0 (power 1) x freq: .125, .125, .0625 -> .4, .4, .2; fold 1 (power 0) as it is, but C,
    never trained on, is never predicted: .5, .25, 0 -> 2/3, 1/3, 0. Mean: 8/15, 11/30, 1/10."""
    (first, _) = predicted(capsys, two_folds, "--prior", "data")
    assert first["prior"] == "data"
    assert first["predictions"] == [{"language": "A", "probability": 0.5333}, {"language": "B", "probability": 0.3667},
                                    {"language": "C", "probability": 0.1}]


def test_prior_uniform_on_a_hand_computed_ensemble(two_folds, capsys):
    """fold 0 (power 1) as it is: .5, .25, .25; fold 1 (power 0) / freq: .5/.75, .25/.25, C never
    -> 2/3, 1 -> .4, .6, 0. Mean: .45, .425, .125."""
    (first, _) = predicted(capsys, two_folds, "--prior", "uniform")
    assert first["prior"] == "uniform"
    assert first["predictions"] == [{"language": "A", "probability": 0.45}, {"language": "B", "probability": 0.425},
                                    {"language": "C", "probability": 0.125}]


@pytest.mark.parametrize("prior, expected", [
    ("uniform", {"B": 6 / 13, "A": 5 / 13, "C": 2 / 13}),  # x freq: .125, .15, .05 (sum .325)
    ("data", {"B": 12 / 19, "A": 5 / 19, "C": 2 / 19}),  # x freq ** 2: .03125, .075, .0125 (sum .11875)
])
def test_a_doubly_balanced_model_under_each_prior(tmp_path, capsys, prior, expected):
    """Power 2 (the balanced draw and balanced loss weights): outputs .5, .3, .2 assume a prior
    proportional to 1 / freq (freq 1/4, 1/2, 1/4), so even the uniform prior reorders them."""
    constant_cell(tmp_path / "fold-0.pt", [0.5, 0.3, 0.2], train_counts=[1, 2, 1], prior_power=2)
    (first, _) = predicted(capsys, tmp_path, "--prior", prior)
    assert first["predictions"] == [{"language": language, "probability": round(p, 4)}
                                    for language, p in expected.items()]


def test_the_default_prior_is_data(two_folds, capsys):
    assert predicted(capsys, two_folds) == predicted(capsys, two_folds, "--prior", "data")
    with inside(two_folds):
        assert call_main("surnames.predict", "--model", "rnn", "--model-path", ".", "Smith") == 0
    out, err = capsys.readouterr()
    assert out == "Smith\tA 0.53, B 0.37, C 0.10\n" and err == ""  # the TSV as before, no note when not a terminal
    assert predict.DEFAULT_PRIOR == "data"
    assert call_main("surnames.predict", "--help") == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default: data, under which held-out names score best)" in help_text
    assert "data (the default)" in help_text and "prior-corrected accuracy" in help_text


def test_a_terminal_is_told_the_prior_once_on_stderr(two_folds, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with inside(two_folds):
        assert call_main("surnames.predict", "--model", "rnn", "--model-path", ".", "--prior", "uniform",
                         "Smith", "Nguyen") == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["Smith\tA 0.45, B 0.42, C 0.12", "Nguyen\tA 0.45, B 0.42, C 0.12"]
    assert err == "prior: every language equally likely (--prior uniform; see --help)\n"


def test_the_offsets_keep_nans_out():
    """A language never trained on: -inf under either prior, whatever the power (0 x log 0 would be NaN)."""
    for power in range(model_file.MAX_PRIOR_POWER + 1):
        for prior in predict.PRIORS:
            offsets = predict.prior_offsets([3, 0, 1], power, prior)
            assert offsets[1] == -math.inf and torch.isfinite(offsets[[0, 2]]).all()


def test_a_model_file_without_the_prior_is_refused_in_one_line(tmp_path, capsys):
    """An old model file (written before the files recorded the prior): one line naming it and the fix."""
    path = constant_cell(tmp_path / "fold-0.pt")
    with inside(tmp_path):
        status = call_main("surnames.predict", "--model", "rnn", "--model-path", str(path), "Smith")
    err = capsys.readouterr().err
    assert_one_line(err, status, f"model file {path} has no train_counts or prior_power")
    assert "re-run 'dvc repro'" in err


def test_a_baseline_file_moves_to_either_prior(tmp_path, capsys):
    """The baseline's file, as tfidf.save writes it with its training names' languages: every weight 0
    but the intercept, so it gives softmax(intercept) = OUTPUT; class_weight none is power 0."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    languages = ["A", "A", "A", "B"]  # frequencies 3/4, 1/4, 0
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 1)).fit(["ab", "cd", "ef", "gh"])
    classifier = LogisticRegression().fit(vectorizer.transform(["ab", "cd", "ef", "gh", "ab"]), [*languages, "C"])
    classifier.coef_[:] = 0
    classifier.intercept_[:] = torch.tensor(OUTPUT).log().numpy()
    tfidf.save(tmp_path / "fold-0.pt", vectorizer, classifier, THREE, languages)
    payload = torch.load(tmp_path / "fold-0.pt", weights_only=True)
    assert (payload["train_counts"], payload["prior_power"]) == ([3, 1, 0], 0)
    for prior, expected in (("data", [("A", 0.6667), ("B", 0.3333), ("C", 0.0)]),
                            ("uniform", [("B", 0.6), ("A", 0.4), ("C", 0.0)])):
        assert call_main("surnames.predict", "--model", "baseline", "--model-path", str(tmp_path), "--json",
                         "--prior", prior, "Smith") == 0
        (document,) = json.loads(capsys.readouterr().out)
        assert [(p["language"], p["probability"]) for p in document["predictions"]] == expected


def test_training_records_its_names_per_language_and_the_prior_power(trained):
    """train.py's save: the fold's train names per language, in categories.json's order, and power 1
    (the balanced draw, loss weights none: params.yaml's train_lstm)."""
    categories = read_categories(trained / "data/prepared")
    split = read_split(trained / "data/prepared/fold-0", "train", categories)
    payload = torch.load(trained / "models/lstm/fold-0.pt", weights_only=True)
    assert payload["train_counts"] == [split.languages.count(c) for c in categories]
    assert payload["prior_power"] == 1 and sum(payload["train_counts"]) == len(split.languages)


def test_an_ablation_cell_without_a_training_stage_names_the_ladder_s_folder(tmp_path, capsys):
    """A cell trained only in the ladder's grid: one line saying which --model-path to pass, with
    the folders there are."""
    project = make_project(tmp_path / "p", small_params())
    document = yaml.safe_load((project / "dvc.yaml").read_text())
    document["stages"].pop("train", None)  # train@<cell>, where an ablation cell had a stage of its own
    (project / "dvc.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    expected = ("no stage of dvc.yaml trains tanh_rnn on its own: it is trained only in the ladder's grid; "
                "pass --model-path models/ladder/tanh_rnn-<lr>")
    with inside(project):
        status = call_main("surnames.predict", "--model", "tanh_rnn", "Smith")
    assert_one_line(capsys.readouterr().err, status, expected + "\n")
    (project / "models/ladder/tanh_rnn-0.01").mkdir(parents=True)
    (project / "models/ladder/tanh_rnn-0.003").mkdir()
    (project / "models/ladder/rnn-0.01").mkdir()
    with inside(project):
        status = call_main("surnames.predict", "--model", "tanh_rnn", "Smith")
    assert_one_line(capsys.readouterr().err, status,
                    expected + " (here: models/ladder/tanh_rnn-0.003, models/ladder/tanh_rnn-0.01)\n")
