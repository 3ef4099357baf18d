import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from surnames.alphabet import ALPHABET, N_LETTERS, encode, is_transliterated, transliterate


def test_alphabet_is_the_course_report_s_57_letters():
    assert N_LETTERS == 57
    assert ALPHABET.endswith(" .,;'") and ALPHABET[:52].isalpha()


@pytest.mark.parametrize("raw, transliterated", [
    ("Émile", "Emile"),
    ("Müller", "Muller"),
    ("Nguyễn", "Nguyen"),
    ("Groß", "Gro"),          # ß has no decomposition: dropped, as the course report did
    ("Abl-Ali", "AblAli"),    # so is the hyphen
    ("O'Neal", "O'Neal"),     # the apostrophe is in the alphabet
    ("  Smith \t", "Smith"),
    ("Van der Berg", "Van der Berg"),
    ("ßß-", ""),              # nothing usable left
    ("李", ""),
])
def test_transliterate(raw, transliterated):
    assert transliterate(raw) == transliterated


def test_encode_pads_and_measures_lengths():
    chars, lengths = encode(["ab", "c"])
    assert chars.shape == (2, 2)
    assert lengths.tolist() == [2, 1]
    assert chars[:, 0].tolist() == [ALPHABET.index("a"), ALPHABET.index("b")]
    assert chars[0, 1] == ALPHABET.index("c") and chars[1, 1] == 0
    assert chars.dtype == torch.long


def test_encode_rejects_empty_names():
    with pytest.raises(ValueError):
        encode(["ok", ""])


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(ALPHABET) + ["é", "ß", "-", "\t", "李", "ñ", "\u0301"]), max_size=12))
def test_is_transliterated_agrees_with_transliterate(name):
    assert is_transliterated(name) == (bool(name) and transliterate(name) == name)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=9), min_size=1, max_size=6))
def test_encode_is_each_name_s_letters_in_its_column_then_zeros(names):
    chars, lengths = encode(names)
    assert chars.is_contiguous() and chars.shape == (max(map(len, names)), len(names))
    for column, name in enumerate(names):
        assert chars[:, column].tolist() == [ALPHABET.index(c) for c in name] + [0] * (chars.shape[0] - len(name))
