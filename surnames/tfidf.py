"""The baseline's model as tensors: character n-gram TF-IDF + multinomial logistic regression.

scikit-learn fits it (stages/baseline.py); this module stores the fitted vocabulary, idf
weights and coefficients in an ordinary model file (loadable with weights_only=True, no
pickle) and predicts with them in torch, exactly as scikit-learn's TfidfVectorizer
(analyzer="char_wb", lowercase, optional sublinear tf, l2 norm) and LogisticRegression's
predict_proba would. tests/test_baseline.py checks the two agree.
"""
import re
from collections import Counter
from pathlib import Path

import torch

from surnames import model_file
from surnames.errors import ProjectError

KEYS = {"model", "vocabulary", "idf", "coef", "intercept", "categories", "ngram_range", "sublinear_tf"}
_WHITE_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(name: str, low: int, high: int) -> list[str]:
    """scikit-learn's "char_wb" analyzer: n-grams inside space-padded words, lowercased."""
    grams = []
    for word in _WHITE_SPACES.sub(" ", name.lower()).split():
        word = f" {word} "
        for n in range(low, high + 1):
            grams += [word[i : i + n] for i in range(max(1, len(word) - n + 1))]
            if len(word) <= n:  # a short word counts once, whatever n
                break
    return grams


class TfidfLogistic:
    """A fitted baseline: log-probabilities for names."""

    def __init__(self, payload: dict):
        self.index = {gram: i for i, gram in enumerate(payload["vocabulary"])}
        self.idf, self.coef, self.intercept = payload["idf"], payload["coef"], payload["intercept"]
        self.ngram_range, self.sublinear_tf = tuple(payload["ngram_range"]), payload["sublinear_tf"]
        self.categories = list(payload["categories"])

    def features(self, names: list[str]) -> torch.Tensor:
        """Sparse TF-IDF rows [names, vocabulary], l2-normalised."""
        rows, columns = [], []
        for row, name in enumerate(names):
            for gram in char_wb_ngrams(name, *self.ngram_range):
                if gram in self.index:
                    rows.append(row)
                    columns.append(self.index[gram])
        counts = torch.sparse_coo_tensor(torch.tensor([rows, columns], dtype=torch.long).reshape(2, -1),
                                         torch.ones(len(rows), dtype=torch.float64),
                                         (len(names), len(self.index)), check_invariants=False).coalesce()
        tf = counts.values().log() + 1 if self.sublinear_tf else counts.values()
        values = tf * self.idf[counts.indices()[1]]
        norms = torch.zeros(len(names), dtype=torch.float64).index_add_(0, counts.indices()[0], values**2).sqrt()
        values = values / norms[counts.indices()[0]]
        return torch.sparse_coo_tensor(counts.indices(), values, counts.shape, check_invariants=False)

    def log_probs(self, names: list[str]) -> torch.Tensor:
        logits = torch.sparse.mm(self.features(names), self.coef.t()) + self.intercept
        return torch.log_softmax(logits, dim=1).float()


def save(path: Path, vectorizer, classifier, categories: list[str], train_languages: list[str] | None = None) -> None:
    """A fitted scikit-learn TfidfVectorizer + LogisticRegression as a model file; with the
    languages of the names it was fitted on, one that predict can use (model_file.PRIOR_KEYS:
    their counts, and prior_power 1 for balanced class weights, else 0)."""
    if list(classifier.classes_) != categories:
        raise ProjectError("the baseline was fitted on other languages than categories.json")
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    counts = None if train_languages is None else [Counter(train_languages)[c] for c in categories]
    power = None if train_languages is None else int(classifier.class_weight == "balanced")
    model_file.save_payload(path, {
        "model": "baseline", "vocabulary": vocabulary, "categories": categories,
        "idf": torch.tensor(vectorizer.idf_, dtype=torch.float64),
        "coef": torch.tensor(classifier.coef_, dtype=torch.float64),
        "intercept": torch.tensor(classifier.intercept_, dtype=torch.float64),
        "ngram_range": list(vectorizer.ngram_range), "sublinear_tf": bool(vectorizer.sublinear_tf),
        **model_file.prior_payload(counts, power)})


def _payload_problem(payload: dict) -> str | None:
    """What is wrong with a baseline payload's types and shapes, if anything (a tampered
    file must be one line, not a traceback inside the prediction)."""
    vocabulary, categories, ngrams = payload["vocabulary"], payload["categories"], payload["ngram_range"]
    if not isinstance(vocabulary, list) or not all(isinstance(g, str) for g in vocabulary):
        return "vocabulary must be a list of n-grams"
    if not isinstance(categories, list) or not categories or not all(isinstance(c, str) for c in categories):
        return "categories must be a list of language names"
    if not (isinstance(ngrams, list) and len(ngrams) == 2 and all(type(n) is int for n in ngrams)
            and 1 <= ngrams[0] <= ngrams[1]):
        return f"ngram_range must be [low, high], got {ngrams!r}"
    if not isinstance(payload["sublinear_tf"], bool):
        return "sublinear_tf must be true or false"
    shapes = {"idf": (len(vocabulary),), "coef": (len(categories), len(vocabulary)), "intercept": (len(categories),)}
    for key, shape in shapes.items():
        tensor = payload[key]
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tuple(tensor.shape) != shape:
            return f"{key} must be a float tensor of shape {list(shape)}"
        if not bool(torch.isfinite(tensor).all()):
            return f"{key} is not all finite"
    return None


def load(path: Path, categories: list[str] | None = None, payload: dict | None = None) -> TfidfLogistic:
    payload = model_file.read_payload(path, KEYS, payload)
    if payload["model"] != "baseline":
        raise ProjectError(f"{path} holds a {payload['model']} model, not the baseline")
    problem = _payload_problem(payload)
    if problem:
        raise ProjectError(f"corrupt model file {path}: {problem}")
    if categories is not None and list(payload["categories"]) != categories:
        raise ProjectError(f"model file {path} was trained on other languages than categories.json; re-run 'dvc repro'")
    return TfidfLogistic(payload)
