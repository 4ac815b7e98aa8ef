"""The simple baselines every candidate is measured against on its own split.

An admin's first try on a helpdesk export is plain word TF-IDF with a class-balanced linear
model. A candidate that loses to that on the same split has chosen badly, so each training run
fits both baselines on its training records, scores them on its held-out records and writes the
figures into the model card beside the candidate's.
"""

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from triage.evaluate import score
from triage.features import compose_text
from triage.records import LabelledText

BASELINES: dict[str, Callable[[], Any]] = {
    "tfidf + linearsvc (balanced)": lambda: LinearSVC(class_weight="balanced"),
    "tfidf + logreg (balanced)": lambda: LogisticRegression(class_weight="balanced",
                                                            max_iter=1000),
}


def category_baselines(train: Sequence[LabelledText],
                       heldout: Sequence[LabelledText]) -> dict[str, float]:
    """Category macro-F1 of each baseline on ``heldout`` after fitting on ``train``."""
    fit = [r for r in train if r.category is not None]
    test = [r for r in heldout if r.category is not None]
    if len({r.category for r in fit}) < 2 or not test:
        return {}
    texts = [compose_text(r.subject, r.body) for r in fit]
    gold = [str(r.category) for r in test]
    labels = sorted({*gold, *(str(r.category) for r in fit)})
    scores = {}
    for name, estimator in BASELINES.items():
        model = make_pipeline(TfidfVectorizer(), estimator())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(texts, [r.category for r in fit])
        predicted = [str(p) for p in model.predict([compose_text(r.subject, r.body)
                                                    for r in test])]
        scores[name] = score(gold, predicted, labels).macro_f1
    return scores
