import re

import pytest
import torch

from surnames import baseline, cells, ladder, model_file, score, tfidf
from surnames.alphabet import ALPHABET
from surnames.errors import ProjectError
from tests.helpers import LANGUAGES, small_params


def test_round_trip_gives_the_same_cell(saved):
    path, model = saved
    name, loaded, categories = model_file.load(path, LANGUAGES)
    assert name == "lstm" and categories == LANGUAGES and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert set(torch.load(path, weights_only=True)) == model_file.KEYS


def test_saving_twice_gives_identical_bytes(saved, tmp_path):
    path, model = saved
    model_file.save(tmp_path / "again.pt", "lstm", model, LANGUAGES)
    assert (tmp_path / "again.pt").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop("alphabet"), "expected keys"),
    (lambda p: p.update(model="peephole_lstm"), "unknown model 'peephole_lstm'"),
    (lambda p: p.update(hidden_size=7), "size mismatch"),
    (lambda p: p.update(hidden_size="6"), "hidden_size must be a positive int, got '6'"),
    (lambda p: p.update(hidden_size=6.0), "hidden_size must be a positive int, got 6.0"),
    (lambda p: p.update(hidden_size=True), "hidden_size must be a positive int, got True"),
    (lambda p: p.update(hidden_size=-1), "hidden_size must be a positive int"),
    (lambda p: p.update(hidden_size=10**6), "size mismatch"),  # checked before anything is allocated
    (lambda p: p.update(model=["lstm"]), "unknown model \\['lstm'\\]"),
    (lambda p: p.update(categories=3), "categories must be a list of language names"),
    (lambda p: p.update(categories=["A", 2, "C"]), "categories must be a list of language names"),
    (lambda p: p.update(state_dict=None), "Expected state_dict to be dict-like"),
    (lambda p: p["state_dict"].update({"i2o.bias": "x"}), "i2o.bias"),
    (lambda p: p["state_dict"].update({"i2o.bias": torch.zeros(5)}), "size mismatch for i2o.bias"),
    (lambda p: p["state_dict"].pop("i2f.weight"), "Missing key"),
    (lambda p: p.update(state_dict=cells.build("rnn", len(ALPHABET), 6, 3).state_dict()),
     "it says lstm but holds rnn weights"),
])
def test_a_tampered_payload_is_refused(saved, change, message):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    with pytest.raises(ProjectError, match=f"corrupt model file {re.escape(str(path))}: .*{message}") as error:
        model_file.load(path)
    assert "\n" not in str(error.value)


def test_other_languages_are_refused(saved):
    with pytest.raises(ProjectError, match="trained on other languages"):
        model_file.load(saved[0], ["A", "B", "D"])


def test_a_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": "lstm", "hook": print}, path)
    with pytest.raises(ProjectError, match="corrupt model file"):
        model_file.load(path)


def test_non_finite_weights_or_repeated_languages_are_refused(tmp_path):
    model = cells.build("rnn", len(ALPHABET), 4, 2)
    model_file.save(tmp_path / "m.pt", "rnn", model, ["A", "B"])
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    state = {**payload["state_dict"]}
    state[next(iter(state))] = state[next(iter(state))].clone().fill_(float("nan"))
    torch.save({**payload, "state_dict": state}, tmp_path / "nan.pt")
    with pytest.raises(ProjectError, match="weights are not all finite"):
        model_file.load(tmp_path / "nan.pt")
    torch.save({**payload, "categories": ["A", "A"]}, tmp_path / "twice.pt")
    with pytest.raises(ProjectError, match="categories must be distinct"):
        model_file.load(tmp_path / "twice.pt")


def other_weights(name: str) -> str:
    """A cell of the registry whose layers differ from `name`'s."""
    keys = set(cells.build(name, len(ALPHABET), 6, 3).state_dict())
    return next(c for c in cells.CELLS if set(cells.build(c, len(ALPHABET), 6, 3).state_dict()) != keys)


@pytest.mark.parametrize("name", [cell for cell in cells.CELLS if cell not in ladder.COURSE])
@pytest.mark.parametrize("change, message", [
    (None, None),
    (lambda p: p.update(hidden_size=7), "size mismatch"),
    (lambda p: p["state_dict"].pop(next(k for k in p["state_dict"] if not k.startswith("i2o"))), "Missing key"),
    (lambda p: p["state_dict"]["i2o.bias"].fill_(float("inf")), "weights are not all finite"),
    (lambda p: p.update(state_dict=cells.build(other_weights(p["model"]), len(ALPHABET), 6, 3).state_dict()),
     "holds .* weights"),
])
def test_an_ablation_cell_s_file_round_trips_and_is_checked_like_a_course_cell_s(tmp_path, name, change, message):
    torch.manual_seed(0)
    model = cells.build(name, len(ALPHABET), 6, 3)
    model_file.save(tmp_path / "m.pt", name, model, ["A", "B", "C"])
    if change is None:
        loaded_name, loaded, _ = model_file.load(tmp_path / "m.pt", ["A", "B", "C"])
        assert loaded_name == name and type(loaded) is type(model)
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
        return
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    change(payload)
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(ProjectError, match=f"corrupt model file .*: .*{message}") as error:
        model_file.load(tmp_path / "m.pt")
    assert "\n" not in str(error.value)


class Plain:
    """Pickled by value into a model file below: a class torch's weights-only loader refuses."""


@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_text("train_lstm:\n  lr: 0.01\n"), "not a model file: torch cannot read it as an archive"),
    (lambda path: torch.save({"model": Plain()}, path), "it holds a Python object (tests.test_model_file.Plain)"),
    (lambda path: path.write_bytes(b""), "empty or cut short"),
])
def test_a_file_that_is_not_weights_is_one_line_in_the_project_s_words(tmp_path, make, message):
    path = tmp_path / "fold-0.pt"
    make(path)
    with pytest.raises(ProjectError) as error:
        model_file.load(path)
    text = str(error.value)
    assert text.startswith(f"corrupt model file {path}: ") and message in text, text
    assert "weights_only" not in text and "\x1b" not in text and "\n" not in text


def test_the_prior_round_trips_as_plain_values(tmp_path):
    """What predict's --prior needs: the training names per language and the prior power, plain ints
    beside the cell (weights_only loads them); scoring loads the cell as before."""
    path = tmp_path / "m.pt"
    model_file.save(path, "rnn", cells.build("rnn", len(ALPHABET), 4, 3), LANGUAGES, train_counts=[5, 0, 2],
                    prior_power=1)
    payload = torch.load(path, weights_only=True)
    assert set(payload) == model_file.KEYS | set(model_file.PRIOR_KEYS)
    assert model_file.read_prior(path, payload, len(LANGUAGES)) == ([5, 0, 2], 1)
    assert model_file.load(path, LANGUAGES)[0] == "rnn"


def test_a_file_without_the_prior_is_refused_in_one_line_naming_it_and_the_fix(saved):
    path, _ = saved
    with pytest.raises(ProjectError) as error:
        model_file.read_prior(path, torch.load(path, weights_only=True), len(LANGUAGES))
    assert str(error.value) == (f"model file {path} has no train_counts or prior_power (it predates predict's "
                                "--prior, which needs them); re-run 'dvc repro' to re-create it")


@pytest.mark.parametrize("change, message", [
    ({"train_counts": [1, 2]}, "train_counts must be 3 counts"),
    ({"train_counts": [1, -1, 2]}, "train_counts must be 3 counts"),
    ({"train_counts": [1.0, 2, 3]}, "train_counts must be 3 counts"),
    ({"train_counts": [True, 1, 1]}, "train_counts must be 3 counts"),
    ({"train_counts": [0, 0, 0]}, "not all 0"),
    ({"train_counts": "123"}, "train_counts must be 3 counts"),
    ({"prior_power": 3}, "prior_power must be an int from 0 to 2, got 3"),
    ({"prior_power": -1}, "prior_power must be an int from 0 to 2, got -1"),
    ({"prior_power": True}, "got True"),
    ({"prior_power": 1.0}, "got 1.0"),
])
def test_a_tampered_prior_is_refused_in_one_line(tmp_path, change, message):
    path = tmp_path / "m.pt"
    model_file.save(path, "rnn", cells.build("rnn", len(ALPHABET), 4, 3), LANGUAGES, train_counts=[5, 0, 2],
                    prior_power=1)
    payload = {**torch.load(path, weights_only=True), **change}
    with pytest.raises(ProjectError, match=f"corrupt model file {re.escape(str(path))}: .*{message}") as error:
        model_file.read_prior(path, payload, len(LANGUAGES))
    assert "\n" not in str(error.value)


def test_half_the_prior_is_not_saved(tmp_path):
    with pytest.raises(ValueError, match="both"):
        model_file.save(tmp_path / "m.pt", "rnn", cells.build("rnn", len(ALPHABET), 4, 3), LANGUAGES,
                        train_counts=[1, 1, 1])


@pytest.mark.parametrize("sampler", ["balanced", "natural"])
@pytest.mark.parametrize("loss_weights", ["none", "balanced"])
def test_a_cell_s_saved_prior_power_is_the_one_scoring_corrects_by(sampler, loss_weights):
    """train.py saves model_file.cell_prior_power (it cannot import surnames.score, which its stage
    does not depend on): the two must agree."""
    training = {"sampler": sampler, "loss_weights": loss_weights}
    for cell in cells.CELLS:
        assert model_file.cell_prior_power(training) == score.prior_power(cell, training)


@pytest.mark.parametrize("class_weight", ["none", "balanced"])
def test_the_baseline_saves_its_names_per_language_and_the_power_scoring_corrects_by(tmp_path, class_weight):
    names, languages = ["Nguyen", "Li", "Ng", "Smith", "Papadopoulos"], ["B", "B", "B", "A", "C"]
    params = {**small_params()["baseline"], "class_weight": class_weight}
    vectorizer, classifier = baseline.fit(params, names, languages)
    tfidf.save(tmp_path / "fold-0.pt", vectorizer, classifier, LANGUAGES, languages)
    payload = torch.load(tmp_path / "fold-0.pt", weights_only=True)
    assert set(payload) == tfidf.KEYS | set(model_file.PRIOR_KEYS)
    expected = ([1, 3, 1], score.prior_power("baseline", {"class_weight": class_weight}))
    assert model_file.read_prior(tmp_path / "fold-0.pt", payload, len(LANGUAGES)) == expected
    assert tfidf.load(tmp_path / "fold-0.pt", LANGUAGES).categories == LANGUAGES
