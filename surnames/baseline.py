"""baseline: character n-gram TF-IDF + logistic regression, one model per fold, as a reference
for the course cells. `python -m stages.baseline PREPARED MODELS_DIR` (paths from dvc.yaml).

Fold i's model is fitted (scikit-learn) on fold i's train names and saved as
MODELS_DIR/fold-<i>.pt, a weights-only model file (stages/tfidf.py); evaluate scores it like
the cells. `--choose` instead prints the candidate settings scored on fold 0's **val**
names, the table its params were chosen from. Params: the `baseline` section of params.yaml.
"""
import itertools
import warnings
from pathlib import Path

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from surnames import tfidf
from surnames.atomic import output_set
from surnames.data import fold_name, folds_in, read_categories, read_split
from surnames.scores import scores
from surnames.workers import run_jobs

CLASS_WEIGHTS = {"none": None, "balanced": "balanced"}
CANDIDATES = {"ngram_range": [[1, 3], [1, 4], [1, 5]], "C": [1.0, 3.0, 10.0], "class_weight": ["none", "balanced"]}



def fit(params: dict, names: list[str], languages: list[str]):
    """(vectorizer, classifier) fitted on one fold's training names."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(params["ngram_range"]), sublinear_tf=True)
    classifier = LogisticRegression(C=params["C"], class_weight=CLASS_WEIGHTS[params["class_weight"]],
                                    max_iter=params["max_iter"], tol=params["tol"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol decides when to stop, by design
        classifier.fit(vectorizer.fit_transform(names), languages)
    return vectorizer, classifier


def fit_fold(params: dict, fold_dir: Path, categories: list[str], model_path: Path) -> None:
    train = read_split(fold_dir, "train", categories)
    vectorizer, classifier = fit(params, train.names, train.languages)
    tfidf.save(model_path, vectorizer, classifier, categories, train.languages)
    print(f"baseline {fold_dir.name}: {len(vectorizer.vocabulary_):,} n-grams", flush=True)


def run(params: dict, prepared: Path, models_dir: Path) -> None:
    """Every fold of the prepared data, written to MODELS_DIR only when all succeeded."""
    categories = read_categories(prepared)
    with output_set() as out, out.folder(models_dir) as stage:
        jobs = [(params, Path(prepared) / fold_name(fold), categories, stage / f"{fold_name(fold)}.pt")
                for fold in folds_in(prepared)]
        run_jobs(fit_fold, jobs, params["processes"], names=[f"fold {fold}" for fold in folds_in(prepared)])


def choose(params: dict, prepared: Path) -> list[dict]:
    """Each candidate setting, fitted on fold 0's train names and scored on its val names."""
    categories = read_categories(prepared)
    fold_dir = Path(prepared) / fold_name(0)
    train, val = (read_split(fold_dir, split, categories) for split in ("train", "val"))
    index = {language: i for i, language in enumerate(categories)}
    actual = torch.tensor([index[language] for language in val.languages])
    rows = []
    for ngram_range, c, weight in itertools.product(*CANDIDATES.values()):
        setting = {**params, "ngram_range": ngram_range, "C": c, "class_weight": weight}
        vectorizer, classifier = fit(setting, train.names, train.languages)
        predicted = classifier.predict(vectorizer.transform(val.names))
        result = scores(actual, torch.tensor([index[language] for language in predicted]), len(categories))
        rows.append({"ngram_range": ngram_range, "C": c, "class_weight": weight, **result})
        print(f"{str(ngram_range):8} C={c:<5} {weight:9} val accuracy {result['accuracy']:.3f}  balanced "
              f"{result['balanced_accuracy']:.3f}  macro F1 {result['macro_f1']:.3f}", flush=True)
    return rows
