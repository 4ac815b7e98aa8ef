"""Text features and the sklearn pipelines built on them.

Word 1-2-grams carry topic; character 2-5-grams (within word boundaries) survive typos, inflection
and the German/French/Spanish minority. Feature counts are capped to keep models small. TF-IDF
is fitted without labels, so the category and severity pipelines share one fitted feature union.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

KINDS = ("logreg", "svc")
DEFAULT_KIND = "svc"  # won on the held-out split, see models/current.card.md
WORD_FEATURES = 15_000
CHAR_FEATURES = 25_000


def compose_text(subject: str, body: str) -> str:
    """The one string both models read."""
    return f"{subject}\n{body}"


def build_features(
    word_features: int = WORD_FEATURES, char_features: int = CHAR_FEATURES,
) -> FeatureUnion:
    """Unfitted word + character TF-IDF union."""
    word = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True, max_features=word_features,
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
        max_features=char_features,
    )
    return FeatureUnion([("word", word), ("char", char)])


def build_estimator(kind: str = DEFAULT_KIND) -> Any:
    """Unfitted linear classifier with calibrated probabilities."""
    if kind == "logreg":
        return LogisticRegression(C=20.0, max_iter=3000, class_weight="balanced")
    if kind == "svc":
        svc = LinearSVC(C=0.5, class_weight="balanced")
        return CalibratedClassifierCV(svc, cv=3, method="sigmoid")
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")


def fit_pipelines(
    texts: Sequence[str], labels: Mapping[str, Sequence[str | None]], kind: str = DEFAULT_KIND,
) -> dict[str, Pipeline]:
    """Fit one feature union on all ``texts`` and, per task, a classifier on the texts that
    carry that task's label (``None`` = unlabelled). Tasks with fewer than two distinct labels
    are left out of the result."""
    union = build_features()
    matrix = union.fit_transform(texts)
    slim(union)
    fitted = {}
    for task, y in labels.items():
        rows = [i for i, label in enumerate(y) if label is not None]
        if len({y[i] for i in rows}) < 2:
            continue
        estimator = build_estimator(kind).fit(matrix[rows], [y[i] for i in rows])
        fitted[task] = Pipeline([("features", union), ("classifier", estimator)])
    return fitted


def slim(union: FeatureUnion) -> FeatureUnion:
    """Drop the vectorizers' ``stop_words_`` (only kept for introspection, often megabytes)."""
    for _, vectorizer in union.transformer_list:
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
    return union
