import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import torch

from surnames import cells, data
from surnames.errors import ProjectError
from tests.helpers import DATA, MISSING_DATA, ROOT


def frame(rows):
    return pd.DataFrame(rows, columns=["name", "language"])


def split(rows):
    return data.Split([name for name, _ in rows], [language for _, language in rows])


def test_balanced_sampler_draws_languages_uniformly_and_natural_as_they_occur():
    rows = [(f"Aa{i}", "A") for i in range(90)] + [(f"Bb{i}", "B") for i in range(10)]
    rows = [(name.rstrip("0123456789") + "x" * (i % 5), lang) for i, (name, lang) in enumerate(rows)]
    encoded = data.Encoded(split(rows), ["A", "B"])
    for kind, expected_b in (("balanced", 0.5), ("natural", 0.1)):
        sampler = data.Sampler(encoded, kind, torch.Generator().manual_seed(0))
        drawn = encoded.targets[sampler.draw(20000)].double().mean().item()
        assert drawn == pytest.approx(expected_b, abs=0.02), kind


def test_a_batch_is_cut_to_its_longest_name():
    encoded = data.Encoded(split([("Ab", "A"), ("Abcdef", "B"), ("Abc", "A")]), ["A", "B"])
    letters, lengths, targets = encoded.batch(torch.tensor([0, 2]))
    assert letters.shape == (3, 2) and lengths.tolist() == [2, 3] and targets.tolist() == [0, 0]


def test_predictions_in_chunks_equal_one_pass():
    torch.manual_seed(0)
    model = cells.build("lstm", 57, 8, 2).eval()
    encoded = data.Encoded(split([("Abc" * (i % 4 + 1), "AB"[i % 2]) for i in range(10)]), ["A", "B"])
    whole = data.predict_log_probs(model, encoded)
    torch.testing.assert_close(data.predict_log_probs(model, encoded, chunk=3), whole)
    assert whole.shape == (10, 2)


def write_split(folder, text):
    folder.mkdir(exist_ok=True)
    (folder / "train.csv").write_text(text)


@pytest.mark.parametrize("text, message", [
    ("name,language\nAb,A\n", r"languages differ from categories.json \(extra: \[\], missing: \['B'\]\)"),
    ("name\nAb\n", "must have columns name,language"),
])
def test_read_split_checks_columns_and_languages(tmp_path, text, message):
    write_split(tmp_path, text)
    with pytest.raises(ProjectError, match=message):
        data.read_split(tmp_path, "train", ["A", "B"])


@pytest.mark.parametrize("content", ["not json", '["B", "A"]', "[]"])
def test_categories_must_be_a_sorted_list(tmp_path, content):
    (tmp_path / "categories.json").write_text(content)
    with pytest.raises(ProjectError, match="categories.json"):
        data.read_categories(tmp_path)


def test_folds_in_lists_fold_entries_only(tmp_path):
    for name in ("fold-0", "fold-10", "fold-2", "fold-x", "other"):
        (tmp_path / name).mkdir()
    for name in ("fold-1.pt", "fold-3.pt.tmp", "mean.csv"):
        (tmp_path / name).write_text("")
    assert data.folds_in(tmp_path) == [0, 2, 10]
    assert data.folds_in(tmp_path, ".pt") == [1]
    assert data.folds_in(tmp_path / "missing") == []
    assert data.fold_name(3) == "fold-3"


def test_the_names_data_is_there():
    """The one test that fails when the data is missing (the others that need it are skipped)."""
    assert DATA.is_dir(), MISSING_DATA


def test_without_the_data_make_test_fails_once_naming_names_data_dir(tmp_path):
    env = {**os.environ, "NAMES_DATA_DIR": str(tmp_path / "nowhere")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_data.py",
                             "tests/test_prepare.py", "-k", "not without_the_data"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 1 and re.match(r"1 failed, \d+ passed, \d+ skipped", summary), result.stdout
    assert "NAMES_DATA_DIR" in result.stdout and " error" not in summary


@pytest.mark.parametrize("name, row", [("", 2), ("Müller", 3), ("Smith\t", 2)])
def test_a_prepared_row_with_an_unusable_name_names_the_file_and_row(tmp_path, name, row):
    rows = [("Abe", "A"), (name, "B")] if row == 3 else [(name, "A"), ("Bo", "B")]
    (tmp_path / "train.csv").write_text(frame(rows).to_csv(index=False))
    expected = rf"^{tmp_path / 'train.csv'}:{row}: name '.*' is empty or not transliterated"
    with pytest.raises(ProjectError, match=expected):
        data.read_split(tmp_path, "train", ["A", "B"])


def test_a_prepared_row_with_a_missing_field_names_the_file_and_row(tmp_path):
    write_split(tmp_path, "name,language\nAb,A\nBo\n")
    with pytest.raises(ProjectError, match=r"train.csv:3: a row must have two fields"):
        data.read_split(tmp_path, "train", ["A", "B"])
