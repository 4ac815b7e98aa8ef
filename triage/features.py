"""Text features, the classifiers on them, and how both are chosen for the data at hand.

Three feature sets are tried: plain word TF-IDF (the baseline any admin would try first),
word 1-2-grams, and word 1-2-grams with character 2-5-grams (within word boundaries: they
survive typos, inflection and the other languages). Each task's classifier is a logistic
regression: it gives probabilities without calibration folds, so a class with one example
trains instead of crashing. Which regularisation ``C`` and whether classes are weighted is
chosen per task by stratified cross-validation on the training records (``choose``), and the
feature set on the category task, so a model trained on an admin's history is measured
against the simple balanced baselines on that history rather than assumed to beat them (the
card shows both). TF-IDF is fitted without labels, so the tasks share the union.
"""

import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

FEATURE_SETS = ("plain", "word", "word+char")
WORD_FEATURES = 20_000
CHAR_FEATURES = 30_000
C_GRID = (1.0, 4.0, 16.0, 64.0)
WEIGHTS = ("balanced", None)
FOLDS = 5
TIE = 0.005  # cross-validated scores this close are the same to the search
SMALL_HISTORY = 1500  # records; up to this many the search uses FOLDS folds, beyond it three
SEARCH_ROWS = 2000  # the search runs on at most this many training records
SEED = 42


@dataclass(frozen=True)
class Setting:
    """One point of the search: a feature set and the classifier's hyper-parameters."""

    features: str
    C: float
    class_weight: str | None

    def describe(self) -> str:
        """Short text for the model card."""
        weight = "balanced" if self.class_weight else "unweighted"
        return f"{self.features} features, C={self.C:g}, {weight}"


@dataclass(frozen=True)
class Choice:
    """The setting cross-validation chose for one task and its mean score there."""

    setting: Setting
    cv_score: float
    scores: Mapping[str, float]  # every setting tried, by its description


def compose_text(subject: str, body: str) -> str:
    """The one string every model reads."""
    return f"{subject}\n{body}"


def build_features(kind: str = "word+char") -> FeatureUnion:
    """Unfitted TF-IDF union of the named feature set."""
    if kind == "plain":
        return FeatureUnion([("word", TfidfVectorizer())])
    word = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True, max_features=WORD_FEATURES,
    )
    if kind == "word":
        return FeatureUnion([("word", word)])
    if kind != "word+char":
        raise ValueError(f"unknown feature set {kind!r}; choose one of {', '.join(FEATURE_SETS)}")
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
        max_features=CHAR_FEATURES,
    )
    return FeatureUnion([("word", word), ("char", char)])


def build_estimator(setting: Setting) -> LogisticRegression:
    """Unfitted classifier for a setting."""
    return LogisticRegression(C=setting.C, class_weight=setting.class_weight, max_iter=1000,
                              tol=1e-3)


def _folds(labels: Sequence[Any], folds: int | None = None) -> StratifiedKFold:
    """Stratified folds: ``FOLDS`` for a small history (where one split is noisy), three for
    a large one (where each fold costs more and the estimate is steady anyway)."""
    folds = folds or (FOLDS if len(labels) <= SMALL_HISTORY else 3)
    smallest = min(np.unique(np.asarray(labels, dtype=str), return_counts=True)[1])
    return StratifiedKFold(n_splits=max(2, min(folds, int(smallest))), shuffle=True,
                           random_state=SEED)


def _sample(labels: Sequence[Any]) -> list[int]:
    """Rows for the search: those of classes with at least ``FOLDS`` examples (a rarer class
    cannot be in every fold: it would only add noise and take folds away), all of them or a
    stratified ``SEARCH_ROWS`` of a large history (the ranking settles long before its cost
    stops growing)."""
    counts = Counter(labels)
    rows = [i for i, label in enumerate(labels) if counts[label] >= FOLDS]  # any fold count
    if len({labels[i] for i in rows}) < 2:
        rows = list(range(len(labels)))
    if len(rows) <= SEARCH_ROWS:
        return rows
    kept, _ = train_test_split(rows, train_size=SEARCH_ROWS, random_state=SEED,
                               stratify=_stratifiable([labels[i] for i in rows]))
    return sorted(kept)


def _stratifiable(labels: Sequence[Any]) -> list[Any] | None:
    counts = Counter(labels)
    return list(labels) if min(counts.values()) >= 2 else None


def _path_scores(matrix: Any, labels: Sequence[Any], weight: str | None,
                 scoring: str) -> dict[float, float]:
    """Mean cross-validated score at each C of the grid: one warm-started path per fold."""
    search = LogisticRegressionCV(Cs=list(C_GRID), cv=_folds(labels), scoring=scoring,
                                  class_weight=weight, max_iter=1000, tol=1e-3, n_jobs=-1,
                                  refit=False)
    # As class numbers: LogisticRegressionCV refuses class_weight="balanced" on labels that
    # read as numbers ("10", "20": a helpdesk's codes), whatever their type.
    codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)[1]
    with warnings.catch_warnings():  # few examples of a class: expected, reported by the caller
        warnings.simplefilter("ignore", (UserWarning, ConvergenceWarning))
        warnings.simplefilter("ignore", FutureWarning)  # scores_ keeps its shape until 1.10
        search.fit(matrix, codes)
    folds = next(iter(search.scores_.values()))  # (folds, Cs); the same for every class
    return {c: float(mean) for c, mean in zip(C_GRID, folds.mean(axis=0), strict=True)}


def choose(matrices: Mapping[str, Any], labels: Sequence[Any],
           scoring: str = "f1_macro") -> Choice:
    """The best setting for one task by stratified cross-validation over the grid.

    ``matrices`` holds the training texts under each feature set to try.
    """
    rows = _sample(labels)
    sample = [labels[i] for i in rows]
    scores: dict[str, float] = {}
    tried: list[tuple[float, Setting]] = []
    for kind in matrices:
        for weight in WEIGHTS:
            for c, score in _path_scores(matrices[kind][rows], sample, weight, scoring).items():
                setting = Setting(kind, c, weight)
                scores[setting.describe()] = score
                tried.append((score, setting))
    best = max(score for score, _ in tried)
    # Within a hair of the best, the weakest regularisation: the model trained on all the
    # records sees half as much again as a fold did, and more data wants less of it.
    close = [(setting.C, score, setting) for score, setting in tried if score >= best - TIE]
    _, score, chosen = max(close, key=lambda item: (item[0], item[1]))
    return Choice(chosen, score, scores)


def out_of_fold_proba(matrix: Any, labels: Sequence[Any], setting: Setting,
                      folds: int | None = None) -> NDArray[Any]:
    """Cross-validated probabilities of every training record (for choosing thresholds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, ConvergenceWarning))
        proba: NDArray[Any] = cross_val_predict(
            build_estimator(setting), matrix, labels, cv=_folds(labels, folds),
            method="predict_proba", n_jobs=-1)
    return proba


def fit_unions(texts: Sequence[str], kinds: Sequence[str],
               step: Callable[[str], None] = lambda _: None) -> dict[str, tuple[FeatureUnion, Any]]:
    """Each named feature union fitted on ``texts``, with the texts' matrix under it."""
    fitted = {}
    for kind in kinds:
        step(f"features: {kind}")
        union = build_features(kind)
        matrix = union.fit_transform(texts)
        fitted[kind] = (slim(union), matrix)
    return fitted


def fit_pipeline(union: FeatureUnion, matrix: Any, labels: Sequence[str],
                 setting: Setting) -> Pipeline:
    """The task's final classifier on all its training rows, behind the shared union."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = build_estimator(setting).fit(matrix, labels)
    return Pipeline([("features", union), ("classifier", estimator)])


def slim(union: FeatureUnion) -> FeatureUnion:
    """Drop the vectorizers' ``stop_words_`` (only kept for introspection, often megabytes)."""
    for _, vectorizer in union.transformer_list:
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
    return union
