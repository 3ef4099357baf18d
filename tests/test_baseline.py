import json

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from surnames import baseline, tfidf
from surnames.errors import ProjectError
from tests.helpers import call_main, inside, small_params

NAMES = ["Nguyen", "O'Brien", "De la Cruz", "Li", "Abbascia", "Ng", "Z", "Papadopoulos", "van  der Berg"]
LANGUAGES = ["A", "B", "C", "A", "B", "C", "A", "B", "C"]


@pytest.mark.parametrize("low, high", [(1, 3), (2, 5), (1, 1)])
def test_ngrams_are_scikit_learns_char_wb(low, high):
    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(low, high)).build_analyzer()
    for name in NAMES:
        assert tfidf.char_wb_ngrams(name, low, high) == analyzer(name), name


@pytest.mark.parametrize("class_weight", ["none", "balanced"])
def test_torch_inference_equals_scikit_learns_predict_proba(tmp_path, class_weight):
    params = {**small_params()["baseline"], "class_weight": class_weight, "C": 3.0}
    vectorizer, classifier = baseline.fit(params, NAMES, LANGUAGES)
    tfidf.save(tmp_path / "fold-0.pt", vectorizer, classifier, ["A", "B", "C"])
    model = tfidf.load(tmp_path / "fold-0.pt", ["A", "B", "C"])
    unseen = ["Nguyenx", "Papadopoulou", "qq", "Li Li"]
    expected = classifier.predict_proba(vectorizer.transform(unseen))
    assert np.allclose(model.log_probs(unseen).exp().numpy(), expected, atol=1e-6)


def test_the_model_file_loads_with_weights_only(tmp_path):
    vectorizer, classifier = baseline.fit(small_params()["baseline"], NAMES, LANGUAGES)
    tfidf.save(tmp_path / "fold-0.pt", vectorizer, classifier, ["A", "B", "C"])
    payload = torch.load(tmp_path / "fold-0.pt", weights_only=True)
    assert payload["model"] == "baseline" and set(payload) == tfidf.KEYS
    with pytest.raises(ProjectError, match="trained on other languages"):
        tfidf.load(tmp_path / "fold-0.pt", ["A", "B", "D"])


@pytest.mark.parametrize("key, value, problem", [
    ("vocabulary", "abc", "vocabulary must be a list"), ("vocabulary", [1, 2], "vocabulary must be a list"),
    ("categories", "A", "categories must be a list"), ("ngram_range", [3], "ngram_range must be"),
    ("ngram_range", [1.0, 3], "ngram_range must be"), ("sublinear_tf", 1, "sublinear_tf must be"),
    ("idf", torch.zeros(2), "idf must be a float tensor"), ("coef", torch.zeros(3, 2, dtype=torch.long), "coef must"),
    ("intercept", [0.0, 0.0, 0.0], "intercept must be"), ("model", "rnn", "holds a rnn model, not the baseline"),
])
def test_a_tampered_baseline_file_is_one_line_naming_it(tmp_path, key, value, problem):
    vectorizer, classifier = baseline.fit(small_params()["baseline"], NAMES, LANGUAGES)
    tfidf.save(tmp_path / "fold-0.pt", vectorizer, classifier, ["A", "B", "C"])
    payload = torch.load(tmp_path / "fold-0.pt", weights_only=True)
    torch.save({**payload, key: value}, tmp_path / "fold-0.pt")
    with pytest.raises(ProjectError, match=problem) as error:
        tfidf.load(tmp_path / "fold-0.pt").log_probs(["Abe"])
    assert str(tmp_path / "fold-0.pt") in str(error.value) and "\n" not in str(error.value)


def test_every_fold_gets_a_model_that_beats_chance(small_run):
    assert sorted(p.name for p in (small_run / "models/baseline").iterdir()) == [f"fold-{i}.pt" for i in range(5)]
    metrics = json.loads((small_run / "metrics/baseline.json").read_text())
    # scored on every fold it has, not only the two the cells trained on
    assert metrics["test"]["balanced_accuracy"]["value"] > 0.3 and len(metrics["test"]["accuracy"]["per_fold"]) == 5


def test_choose_scores_candidates_on_val_names_only(small_run, monkeypatch, capsys):
    monkeypatch.setattr(baseline, "CANDIDATES", {"ngram_range": [[1, 2]], "C": [1.0], "class_weight": ["balanced"]})
    with inside(small_run):
        assert call_main("baseline", "data/prepared", "--choose") == 0
    out = capsys.readouterr().out
    assert "[1, 2]   C=1.0   balanced  val accuracy" in out and "best by val balanced accuracy" in out
