"""The course report's alphabet, and transliterating a name onto it: shared by training,
evaluation and prediction."""
import re
import string
import unicodedata

import torch

ALPHABET = string.ascii_letters + " .,;'"
N_LETTERS = len(ALPHABET)  # 57
_INDEX = {letter: i for i, letter in enumerate(ALPHABET)}
_ONLY_ALPHABET = re.compile(f"[{re.escape(ALPHABET)}]+")


def transliterate(name: str) -> str:
    """A name on the course report's alphabet, as the course report did it: NFD, drop
    combining marks, keep only ALPHABET.

    Surrounding whitespace is not part of a name, so it is stripped before and after.
    """
    decomposed = unicodedata.normalize("NFD", name.strip())
    kept = (c for c in decomposed if unicodedata.category(c) != "Mn" and c in _INDEX)
    return "".join(kept).strip()


def is_transliterated(name: str) -> bool:
    """transliterate(name) == name for a non-empty name, without transliterating: only
    ALPHABET's characters, and no space at either end (a regular expression, fast enough to
    check every prepared row each time a split is read)."""
    return bool(_ONLY_ALPHABET.fullmatch(name)) and name == name.strip()


def encode(names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Letter indices of transliterated names, padded: (chars [T, B] int64, lengths [B] int64)."""
    if not names:
        raise ValueError("encode needs at least one name")
    lengths = torch.tensor([len(n) for n in names], dtype=torch.long)
    if int(lengths.min()) == 0:
        raise ValueError("cannot encode an empty name")
    # One tensor of every letter, name by name, placed through a mask of the letters that exist:
    # [B, T] row-major is that same order. (A tensor per name cost seconds per stage.)
    codes = torch.tensor([_INDEX[c] for name in names for c in name], dtype=torch.long)
    exists = torch.arange(int(lengths.max())).unsqueeze(0) < lengths.unsqueeze(1)
    chars = torch.zeros(len(names), int(lengths.max()), dtype=torch.long)
    chars[exists] = codes
    return chars.t().contiguous(), lengths
