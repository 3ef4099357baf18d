import pytest
import yaml

from surnames import params as schema
from surnames.data import Sampler
from surnames.errors import ProjectError
from surnames.params import check_all, load_params, read_params
from surnames.step import Optimizer
from tests.helpers import call_main, small_params


def refused(params: dict, tmp_path, match: str):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ProjectError, match=match) as error:
        read_params(path)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_the_committed_params_pass(committed):
    assert check_all(committed) == committed


@pytest.mark.parametrize("section, key, nearest", [("train_rnn", "hiden_size", "hidden_size"),
                                                   ("prepare", "val_fracton", "val_fraction"),
                                                   ("evaluate", "length_bucket", "length_buckets")])
def test_an_unknown_key_is_refused_with_the_nearest_valid_one(committed, tmp_path, section, key, nearest):
    committed[section][key] = 8
    refused(committed, tmp_path, rf"unknown param {section}\.{key} \(did you mean '{nearest}'\?\)")


@pytest.mark.parametrize("section, nearest", [("train_gru", "train_rnn"), ("evalute", "evaluate")])
def test_an_unknown_section_is_refused(committed, tmp_path, section, nearest):
    committed[section] = dict(committed.get(nearest, {}))
    refused(committed, tmp_path, rf"unknown section '{section}' \(did you mean '{nearest}'\?\)")


@pytest.mark.parametrize("section, key, value", [
    ("train_rnn", "lr", float("nan")), ("train_lstm", "lr", float("inf")), ("prepare", "val_fraction", float("nan")),
    ("train_rnn", "grad_clip", float("nan")), ("train_rnn", "dropout", float("-inf")),
    ("evaluate", "confidence", float("nan")), ("baseline", "C", float("inf")),
    ("evaluate", "length_buckets", [True]), ("baseline", "ngram_range", [1, True]), ("train_rnn", "folds", [False]),
    ("train_rnn", "hidden_size", True), ("train_lstm", "batch_size", 1.0), ("evaluate", "bootstrap_draws", "many"),
    ("train_rnn", "threads", 64), ("evaluate", "threads", 0), ("train_rnn", "threads", "all"),
    ("train_rnn", "optimizer", "rmsprop"), ("prepare", "folds", 1), ("report", "course_figures", {"rnn": 60}),
])
def test_invalid_values_are_refused(committed, tmp_path, section, key, value):
    committed[section][key] = value
    refused(committed, tmp_path, rf"invalid param {section}\.{key}=")


def test_nan_written_by_hand_is_refused(tmp_path, committed):
    text = yaml.safe_dump(committed).replace("lr: 0.003", "lr: .nan")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ProjectError, match=r"invalid param train_rnn\.lr=nan: expected a finite number"):
        read_params(tmp_path / "params.yaml")


def test_exponent_floats_are_floats_as_in_yaml_1_2(tmp_path, committed):
    text = yaml.safe_dump(committed).replace("lr: 0.003", "lr: 1e-3")
    assert "lr: 1e-3" in text
    (tmp_path / "params.yaml").write_text(text)
    assert load_params("train_rnn", tmp_path / "params.yaml")["lr"] == 0.001


def test_threads_are_bounded_by_the_cores_available(committed, tmp_path):
    committed["train_rnn"]["threads"] = schema.available_cores()
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(committed))
    read_params(tmp_path / "ok.yaml")
    committed["train_rnn"]["threads"] = schema.available_cores() + 1
    message = refused(committed, tmp_path, r"invalid param train_rnn\.threads=")
    assert f"[1, {schema.available_cores()}]" in message
    assert schema.resolve_threads("auto") == schema.available_cores()


def test_a_missing_key_or_section_is_named(committed, tmp_path):
    lr = committed["train_lstm"].pop("lr")
    refused(committed, tmp_path, r"missing param train_lstm\.lr \(learning rate\)")
    committed["train_lstm"]["lr"] = lr
    del committed["evaluate"]
    refused(committed, tmp_path, "has no 'evaluate' section")


def test_a_yaml_syntax_error_is_one_line_with_line_and_column(tmp_path):
    (tmp_path / "params.yaml").write_text("prepare:\n  folds: 5\n  seed: [0\n")
    with pytest.raises(ProjectError, match=r"params\.yaml:\d+:\d+: invalid YAML: ") as error:
        read_params(tmp_path / "params.yaml")
    assert "\n" not in str(error.value)


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(ProjectError, match="cannot read .*nothing.yaml: No such file"):
        read_params(tmp_path / "nothing.yaml")


def test_the_schema_names_the_code_s_own_choices():
    for section in ("train_rnn", "train_lstm"):
        assert schema.SCHEMA[section]["optimizer"].expected == f"one of {', '.join(Optimizer.KINDS)}"
        assert schema.SCHEMA[section]["sampler"].expected == f"one of {', '.join(Sampler.KINDS)}"


def test_the_params_stage_checks_the_file_and_describes_the_schema(tmp_path, committed, capsys):
    committed["train_gru"] = {}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(committed))
    assert call_main("params", str(tmp_path / "params.yaml")) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert call_main("params", "--describe") == 0
    table = capsys.readouterr().out
    assert all(f"`{section}.{key}`" in table for section, fields in schema.SCHEMA.items() for key in fields)


@pytest.mark.parametrize("text, expected", [("010", 10), ("1e-3", 0.001), ("3E-3", 0.003)])
def test_numbers_read_as_dvc_reads_them(tmp_path, text, expected):
    assert schema.parse_yaml(f"k: {text}\n", "p.yaml") == {"k": expected}


def test_a_duplicate_key_is_refused_as_dvc_refuses_it():
    with pytest.raises(ProjectError, match=r"^p\.yaml:\d+:\d+: invalid YAML: .*duplicate"):
        schema.parse_yaml("train_rnn:\n  lr: 0.1\n  lr: 0.2\n", "p.yaml")


def test_a_seed_beyond_torch_s_range_is_refused(committed, tmp_path):
    committed["train_rnn"]["seed"] = 2**64
    refused(committed, tmp_path, r"invalid param train_rnn\.seed=")


def test_a_training_fold_beyond_prepare_folds_is_refused_by_the_params_check(committed, tmp_path):
    """Cross-section: caught by the params stage, before DVC deletes train_lstm's models."""
    committed["train_lstm"]["folds"] = [0, 7]
    message = refused(committed, tmp_path, r"train_lstm\.folds lists fold 7, but prepare\.folds is 5 \(folds 0-4\)")
    assert "raise prepare.folds" in message
    committed["prepare"]["folds"] = 8
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(committed))
    assert read_params(path)["train_lstm"]["folds"] == [0, 7]


# Every refused value of a section, through check_section (what each stage calls first); the
# stages' own tests check that a refusal there writes nothing (test_train, test_prepare).
@pytest.mark.parametrize("key, value", [
    ("lr", 0), ("lr", -0.1), ("batch_size", 0), ("iterations", 0), ("optimizer", "rmsprop"),
    ("sampler", "shuffled"), ("grad_clip", -1), ("hidden_size", 1.5), ("threads", 0), ("eval_every", "often"),
    ("folds", []), ("folds", [0, 0]), ("folds", [True]), ("folds", 0), ("processes", 0),
    ("loss_weights", "inverse"), ("weight_decay", -1), ("keep", "last"), ("select_by", "loss"),
    ("lr_schedule", "step"), ("dropout", 1.0),
])
def test_invalid_training_params_are_refused(key, value):
    with pytest.raises(ProjectError, match=f"invalid param train_rnn.{key}="):
        schema.check_section("train_rnn", {**small_params()["train_rnn"], key: value})


def test_valid_training_params_pass():
    section = small_params()["train_rnn"]
    assert schema.check_section("train_rnn", dict(section)) == section


@pytest.mark.parametrize("key, value", [("ngram_range", [3, 1]), ("ngram_range", [1, True]), ("C", 0),
                                        ("class_weight", "auto"), ("max_iter", 0), ("processes", 0)])
def test_invalid_baseline_params_are_refused(key, value):
    with pytest.raises(ProjectError, match=f"invalid param baseline.{key}="):
        schema.check_section("baseline", {**small_params()["baseline"], key: value})
