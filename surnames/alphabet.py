"""The course report's alphabet, and transliterating a name onto it: shared by training,
evaluation and prediction."""
import string
import unicodedata

import torch

ALPHABET = string.ascii_letters + " .,;'"
N_LETTERS = len(ALPHABET)  # 57
_INDEX = {letter: i for i, letter in enumerate(ALPHABET)}


def transliterate(name: str) -> str:
    """A name on the course report's alphabet, as the course report did it: NFD, drop
    combining marks, keep only ALPHABET.

    Surrounding whitespace is not part of a name, so it is stripped before and after.
    """
    decomposed = unicodedata.normalize("NFD", name.strip())
    kept = (c for c in decomposed if unicodedata.category(c) != "Mn" and c in _INDEX)
    return "".join(kept).strip()


def encode(names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Letter indices of transliterated names, padded: (chars [T, B] int64, lengths [B] int64)."""
    if not names:
        raise ValueError("encode needs at least one name")
    lengths = torch.tensor([len(n) for n in names], dtype=torch.long)
    if int(lengths.min()) == 0:
        raise ValueError("cannot encode an empty name")
    chars = torch.zeros(int(lengths.max()), len(names), dtype=torch.long)
    for column, name in enumerate(names):
        chars[: len(name), column] = torch.tensor([_INDEX[c] for c in name])
    return chars, lengths
