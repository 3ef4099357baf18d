import re

import pytest
import torch

from surnames import cells, ladder, model_file
from surnames.alphabet import ALPHABET
from surnames.errors import ProjectError
from tests.helpers import LANGUAGES


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
    (lambda p: p.update(model="gru"), "unknown model 'gru'"),
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


OTHER_WEIGHTS = {"tanh_rnn": "lstm", "wide_tanh_rnn": "lstm_output_open", "lstm_forget_open": "lstm",
                 "lstm_output_open": "lstm_forget_open"}


@pytest.mark.parametrize("name", ladder.ABLATIONS)
@pytest.mark.parametrize("change, message", [
    (None, None),
    (lambda p: p.update(hidden_size=7), "size mismatch"),
    (lambda p: p["state_dict"].pop("i2c.weight" if "lstm" in p["model"] else "i2h.weight"), "Missing key"),
    (lambda p: p["state_dict"]["i2o.bias"].fill_(float("inf")), "weights are not all finite"),
    (lambda p: p.update(state_dict=cells.build(OTHER_WEIGHTS[p["model"]], len(ALPHABET), 6, 3).state_dict()),
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
