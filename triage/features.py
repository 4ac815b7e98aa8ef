"""Text features and the sklearn pipelines built on them.

Word 1-2-grams carry topic; character 2-5-grams (within word boundaries) survive typos, inflection
and the German/French/Spanish minority. Feature counts are capped to keep models small.
"""

from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

KINDS = ("logreg", "svc")
DEFAULT_KIND = "logreg"
WORD_FEATURES = 20_000
CHAR_FEATURES = 40_000


def compose_text(subject: str, body: str) -> str:
    """The one string both models read."""
    return f"{subject}\n{body}"


def _features(word_features: int, char_features: int) -> FeatureUnion:
    word = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True, max_features=word_features,
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
        max_features=char_features,
    )
    return FeatureUnion([("word", word), ("char", char)])


def _estimator(kind: str) -> Any:
    if kind == "logreg":
        return LogisticRegression(C=20.0, max_iter=3000, class_weight="balanced")
    if kind == "svc":
        svc = LinearSVC(C=0.5, class_weight="balanced")
        return CalibratedClassifierCV(svc, cv=3, method="sigmoid")
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")


def build_pipeline(
    kind: str = DEFAULT_KIND,
    word_features: int = WORD_FEATURES,
    char_features: int = CHAR_FEATURES,
) -> Pipeline:
    """An unfitted text -> label pipeline with calibrated probabilities."""
    return Pipeline([
        ("features", _features(word_features, char_features)),
        ("classifier", _estimator(kind)),
    ])


def slim(pipeline: Pipeline) -> Pipeline:
    """Drop the vectorizers' ``stop_words_`` (only kept for introspection, often megabytes)."""
    for _, vectorizer in pipeline.named_steps["features"].transformer_list:
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
    return pipeline
