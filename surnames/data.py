"""The prepared data: folds, reading a split, encoding it, drawing training batches, predicting.

Words: a **fold** `i` is one of k disjoint sets of distinct names, tested by the models
of fold i and trained on by the others; its folder `fold-<i>/` holds three **splits**, sets
of names with their languages (`train.csv`, `val.csv`, `test.csv`, read as a `Split`);
**encoded** is a split turned into tensors once (padded letters, lengths, targets) so that
batches are index lookups.
"""
import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from surnames.alphabet import encode, is_transliterated
from surnames.errors import ProjectError


def fold_name(fold: int) -> str:
    """The name of fold i's folder (prepared data) and file stem (models, curves)."""
    return f"fold-{fold}"


def folds_in(directory: Path, suffix: str = "") -> list[int]:
    """The folds present in `directory` as `fold-<i><suffix>` entries, sorted."""
    pattern = re.compile(rf"fold-(\d+){re.escape(suffix)}")
    found = [pattern.fullmatch(path.name) for path in Path(directory).iterdir()] if Path(directory).is_dir() else []
    return sorted(int(match.group(1)) for match in found if match)


def read_categories(prepared: Path) -> list[str]:
    """The sorted languages of the prepared data (`categories.json`)."""
    path = Path(prepared) / "categories.json"
    try:
        categories = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ProjectError(f"cannot read {path}: {' '.join(str(error).split())}; run the prepare stage first") from None
    if not isinstance(categories, list) or not categories or categories != sorted(set(categories)):
        raise ProjectError(f"{path} must be a sorted list of distinct languages")
    return categories


@dataclass(frozen=True)
class Split:
    """A split's names and their languages, row by row."""
    names: list[str]
    languages: list[str]


def _rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ProjectError(f"cannot read {path}: {' '.join(str(error).split())}; run the prepare stage first") from None


def read_split(fold_dir: Path, split: str, categories: list[str]) -> Split:
    """One split of a fold, checked to hold exactly the languages in `categories` (the csv
    module, not pandas: a scoring stage then never imports pandas)."""
    path = Path(fold_dir) / f"{split}.csv"
    header, *rows = _rows(path) or [[]]
    if header != ["name", "language"] or not rows:
        raise ProjectError(f"{path} must have columns name,language and at least one row")
    ragged = next((number for number, row in enumerate(rows, 2) if len(row) != 2), None)
    if ragged:
        raise ProjectError(f"{path}:{ragged}: a row must have two fields, name and language; "
                           "re-run the prepare stage")
    names, languages = [row[0] for row in rows], [row[1] for row in rows]
    found = sorted(set(languages))
    if found != categories:
        extra = sorted(set(found) - set(categories))
        missing = sorted(set(categories) - set(found))
        raise ProjectError(f"{path} languages differ from categories.json (extra: {extra}, missing: {missing})")
    unusable = [row for row, name in enumerate(names) if not is_transliterated(name)]
    if unusable:  # prepare writes only transliterated, non-empty names: anything else was edited by hand
        row = unusable[0]
        raise ProjectError(f"{path}:{row + 2}: name {names[row]!r} is empty or not transliterated to the "
                           "alphabet; re-run the prepare stage")
    return Split(names, languages)


class Encoded:
    """A split encoded once: padded letters [T, N], lengths [N], targets [N]."""

    def __init__(self, split: Split, categories: list[str]):
        self.names = list(split.names)
        self.letters, self.lengths = encode(self.names)
        index = {language: i for i, language in enumerate(categories)}
        self.targets = torch.tensor([index[language] for language in split.languages])
        self.n_classes = len(categories)

    def __len__(self):
        return len(self.targets)

    def batch(self, rows: torch.Tensor):
        lengths = self.lengths[rows]
        return self.letters[: int(lengths.max()), rows], lengths, self.targets[rows]


def read_encoded(fold_dir: Path, splits, categories: list[str]) -> dict[str, Encoded]:
    return {split: Encoded(read_split(fold_dir, split, categories), categories) for split in splits}


class Sampler:
    """Draws rows of an encoded split: `balanced` = a random language, then a random name of
    it (the course report's draw); `natural` = a random row, so languages come as often as they occur."""

    KINDS = ("balanced", "natural")

    def __init__(self, encoded: Encoded, kind: str, generator: torch.Generator):
        self.encoded, self.kind, self.generator = encoded, kind, generator
        order = torch.argsort(encoded.targets, stable=True)
        counts = torch.bincount(encoded.targets, minlength=encoded.n_classes)
        self.order, self.counts, self.starts = order, counts, torch.cumsum(counts, 0) - counts

    def draw(self, size: int) -> torch.Tensor:
        if self.kind == "natural":
            return torch.randint(len(self.encoded), (size,), generator=self.generator)
        languages = torch.randint(self.encoded.n_classes, (size,), generator=self.generator)
        offsets = (torch.rand(size, generator=self.generator) * self.counts[languages]).long()
        return self.order[self.starts[languages] + offsets]


@torch.no_grad()
def predict_log_probs(model, encoded: Encoded, chunk: int = 2048) -> torch.Tensor:
    """Log-probabilities [N, classes] for every row of an encoded split, in chunks."""
    outputs = [model(*encoded.batch(torch.arange(start, min(start + chunk, len(encoded))))[:2])
               for start in range(0, len(encoded), chunk)]
    return torch.cat(outputs)
