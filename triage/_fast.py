"""A fast single-message scorer that reproduces ``Pipeline.predict_proba`` exactly.

sklearn's per-call validation costs several milliseconds for one short text; the arithmetic
itself (TF-IDF with sublinear tf and l2 norm per vectorizer, then a multinomial logistic
regression or a sigmoid-calibrated LinearSVC ensemble) takes a fraction of that. Pipelines of
any other shape fall back to sklearn; tests check both paths give the same numbers.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

Vector = tuple[NDArray[np.intp], NDArray[np.float64]]


@dataclass(frozen=True)
class _Block:
    """One fitted vectorizer and where its columns start in the feature union."""

    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: NDArray[np.float64]
    offset: int


def _block(vectorizer: Any, offset: int) -> _Block | None:
    plain = (
        isinstance(vectorizer, TfidfVectorizer) and vectorizer.sublinear_tf
        and vectorizer.norm == "l2" and vectorizer.use_idf and not vectorizer.binary
    )
    if not plain:
        return None
    idf = np.asarray(vectorizer.idf_, dtype=np.float64)
    return _Block(vectorizer.build_analyzer(), dict(vectorizer.vocabulary_), idf, offset)


def _blocks(pipeline: Pipeline) -> list[_Block] | None:
    union = pipeline.named_steps.get("features")
    if union is None or not hasattr(union, "transformer_list"):
        return None
    blocks, offset = [], 0
    for _, vectorizer in union.transformer_list:
        block = _block(vectorizer, offset)
        if block is None:
            return None
        blocks.append(block)
        offset += len(block.vocabulary)
    return blocks


def _vectorize(block: _Block, text: str) -> Vector:
    lookup = block.vocabulary.get
    columns: list[int] = []
    counts: list[int] = []
    for gram, count in Counter(block.analyzer(text)).items():
        column = lookup(gram)
        if column is not None:
            columns.append(column)
            counts.append(count)
    idx = np.array(columns, dtype=np.intp)
    values = (1.0 + np.log(np.array(counts, dtype=np.float64))) * block.idf[idx]
    norm = float(np.sqrt(values @ values))
    return idx + block.offset, values / norm if norm > 0 else values


class FastFeatures:
    """The feature union of a pipeline, computed for one text without sklearn's overhead."""

    def __init__(self, blocks: list[_Block]) -> None:
        self._blocks = blocks

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline) -> "FastFeatures | None":
        """Fast features when the pipeline's union has the supported shape, else None."""
        blocks = _blocks(pipeline)
        return cls(blocks) if blocks is not None else None

    def vectorize(self, text: str) -> list[Vector]:
        """One sparse (indices, values) piece per vectorizer."""
        return [_vectorize(block, text) for block in self._blocks]


class FastLinear:
    """Class probabilities of a multinomial LogisticRegression for one fast feature vector."""

    def __init__(self, model: LogisticRegression) -> None:
        self._coef = np.ascontiguousarray(np.asarray(model.coef_, dtype=np.float64).T)
        self._intercept = np.asarray(model.intercept_, dtype=np.float64)

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline) -> "FastLinear | None":
        """A scorer when the pipeline ends in a multinomial LogisticRegression, else None."""
        model = pipeline.steps[-1][1]
        multinomial = isinstance(model, LogisticRegression) and len(model.classes_) > 2
        return cls(model) if multinomial else None

    def predict_proba(self, pieces: list[Vector]) -> NDArray[np.float64]:
        """Softmax of the linear scores, as ``LogisticRegression.predict_proba``."""
        scores = self._intercept.copy()
        for idx, values in pieces:
            scores += values @ self._coef[idx]
        scores -= scores.max()
        exp = np.exp(scores)
        result: NDArray[np.float64] = exp / exp.sum()
        return result


class FastCalibrated:
    """Class probabilities of ``CalibratedClassifierCV(LinearSVC, method="sigmoid")``: per fold
    one-vs-rest scores, a sigmoid per class, normalised; then the mean over folds."""

    def __init__(self, model: CalibratedClassifierCV) -> None:
        folds = model.calibrated_classifiers_
        self._coef = np.ascontiguousarray(
            np.hstack([np.asarray(f.estimator.coef_, dtype=np.float64).T for f in folds])
        )
        self._intercept = np.concatenate([f.estimator.intercept_ for f in folds])
        self._a = np.concatenate([[c.a_ for c in f.calibrators] for f in folds])
        self._b = np.concatenate([[c.b_ for c in f.calibrators] for f in folds])
        self._shape = (len(folds), len(model.classes_))

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline) -> "FastCalibrated | None":
        """A scorer for a multiclass sigmoid-calibrated LinearSVC whose folds saw every class."""
        model = pipeline.steps[-1][1]
        if not isinstance(model, CalibratedClassifierCV) or model.method != "sigmoid":
            return None
        classes = list(model.classes_)
        ok = len(classes) > 2 and all(
            isinstance(f.estimator, LinearSVC) and list(f.estimator.classes_) == classes
            for f in model.calibrated_classifiers_
        )
        return cls(model) if ok else None

    def predict_proba(self, pieces: list[Vector]) -> NDArray[np.float64]:
        """Mean over folds of the normalised per-class sigmoids."""
        scores = self._intercept.copy()
        for idx, values in pieces:
            scores += values @ self._coef[idx]
        proba = (1.0 / (1.0 + np.exp(self._a * scores + self._b))).reshape(self._shape)
        sums = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / self._shape[1])
        proba = np.divide(proba, sums, out=uniform, where=sums != 0)
        result: NDArray[np.float64] = proba.mean(axis=0)
        return result


def scorer_for(pipeline: Pipeline) -> FastLinear | FastCalibrated | None:
    """The fast scorer matching the pipeline's classifier, if any."""
    return FastLinear.for_pipeline(pipeline) or FastCalibrated.for_pipeline(pipeline)
