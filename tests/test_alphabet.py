import pytest
import torch

from surnames.alphabet import ALPHABET, N_LETTERS, encode, transliterate


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
