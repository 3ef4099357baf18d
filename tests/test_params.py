import pytest

from stages.errors import ProjectError
from stages.params import check_choice, check_number, load_params


@pytest.mark.parametrize("value", [True, "1", None, 0, 11])
def test_check_number_refuses_wrong_kinds_and_bounds(value):
    with pytest.raises(ProjectError, match=r"invalid param s.k=.*: expected a int in \[1, 10\]"):
        check_number({"k": value}, "k", int, 1, 10, section="s")


def test_check_number_takes_an_int_as_a_float():
    assert check_number({"k": 2}, "k", float, 0, section="s") == 2


def test_check_choice():
    assert check_choice({"k": "adam"}, "k", ("adam", "sgd")) == "adam"
    with pytest.raises(ProjectError, match="expected one of adam, sgd"):
        check_choice({"k": "rmsprop"}, "k", ("adam", "sgd"), "s")


def test_a_missing_section_or_file_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("prepare: {seed: 0}\n")
    assert load_params("prepare", tmp_path / "params.yaml") == {"seed": 0}
    with pytest.raises(ProjectError, match="has no 'evaluate' section"):
        load_params("evaluate", tmp_path / "params.yaml")
    with pytest.raises(ProjectError, match="cannot read"):
        load_params("prepare", tmp_path / "nothing.yaml")
