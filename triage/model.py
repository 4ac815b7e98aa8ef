"""The classifier: three text models (category, severity, "escalate now") plus the rules on top.

Severity is ordered: the model's answer is the median of its probabilities along
low < medium < high < critical, not the single most likely level, so a message torn between
medium and critical lands on high rather than on a coin toss between the ends.

Escalation is its own decision: a binary "escalate now" model, read together with the severity
model and the rules by a stacked score (``triage.escalation``), whose threshold was chosen at
training time on out-of-fold probabilities, so that it, the severity model's critical and the
rules together escalate at least 95 % of what must escalate (``metadata
["escalation_threshold"]``). A message escalates when that model flags it, when the final
severity is critical, or when a rule for immediate danger fires (``triage.rules``). A model
flag alone raises the severity to at least ``ESCALATED_FLOOR``: a case that goes to a manager
is never filed as routine.
"""

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from triage import escalation, persist
from triage._fast import FastFeatures, scorer_for
from triage.features import compose_text
from triage.labels import SEVERITIES, max_severity
from triage.result import DEFAULT_REVIEW_THRESHOLD, Signals, TriageResult
from triage.rules import Hit, raise_severity, text_hits

EMPTY_SEVERITY = "medium"
ESCALATED_FLOOR = "high"
DEFAULT_ESCALATION_THRESHOLD = 0.5
BATCH_FROM = 64  # messages; measured: 0.6 ms each one by one, 10 ms + 0.47 ms each in a batch


class Scores(NamedTuple):
    """What a message's text says, before any signal: everything but the decision.

    The two models' probability rows (in their label order), the text rules that fire,
    and whether there was any text at all. A worker process works these out ahead; the
    decision adds the signals that need the case history.
    """

    category: NDArray[np.float64]
    severity: NDArray[np.float64]
    escalation: float | None  # the escalation model's probability, when there is one
    rules: tuple[Hit, ...]
    empty: bool


class Classifier:
    """Category, severity and (optional) escalation pipelines with the model version and the
    metadata they were saved with.

    ``review_threshold``: results whose confidence (top category probability) is below it are
    marked ``needs_review``, as are messages without any text (which get severity
    ``EMPTY_SEVERITY`` instead of whatever the class priors would say).
    """

    def __init__(
        self,
        category_model: Pipeline,
        severity_model: Pipeline,
        version: str,
        metadata: Mapping[str, Any] | None = None,
        review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
        *,
        escalation_model: Pipeline | None = None,
    ) -> None:
        self.category_model = category_model
        self.severity_model = severity_model
        self.escalation_model = escalation_model
        self.version = version
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.review_threshold = review_threshold
        self.escalation_threshold = float(
            self.metadata.get("escalation_threshold", DEFAULT_ESCALATION_THRESHOLD))
        self._pipelines = [category_model, severity_model,
                           *([escalation_model] if escalation_model is not None else [])]
        self._fast = _FastPath(*self._pipelines)
        self._stack = escalation.Stack.from_metadata(self.metadata)

    @classmethod
    def load(
        cls, path: Path | str, review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
    ) -> "Classifier":
        """Load a model file, refusing any content outside the trusted type list."""
        loaded = persist.load_model(Path(path))
        return cls(
            loaded.category, loaded.severity, loaded.version, loaded.metadata, review_threshold,
            escalation_model=loaded.escalation,
        )

    def save(self, path: Path | str) -> None:
        """Write the model as one skops file (atomically replacing ``path``)."""
        bundle = persist.pack(
            {"category": self.category_model, "severity": self.severity_model,
             "escalation": self.escalation_model}, self.version, self.metadata,
        )
        persist.save_model(bundle, Path(path))

    @property
    def categories(self) -> tuple[str, ...]:
        """Category labels the model knows, in probability order."""
        return tuple(str(c) for c in self.category_model.classes_)

    @property
    def severities(self) -> tuple[str, ...]:
        """Severity labels the model knows, in probability order."""
        return tuple(str(c) for c in self.severity_model.classes_)

    def classify(self, subject: str, body: str, signals: Signals | None = None) -> TriageResult:
        """Triage one message."""
        return self.decide(self.score(subject, body), signals)

    def classify_many(
        self, messages: Iterable[tuple[str, str]], signals: Sequence[Signals] | None = None,
    ) -> list[TriageResult]:
        """Triage many (subject, body) pairs; ``signals`` (if given) aligns with them."""
        pairs = list(messages)
        sigs = list(signals) if signals is not None else [None] * len(pairs)
        return [self.decide(scores, signal)
                for scores, signal in zip(self.score_many(pairs), sigs, strict=True)]

    def score(self, subject: str, body: str) -> Scores:
        """The models' probabilities and the text rules, before any signal."""
        text = compose_text(subject, body)
        return _scores(text, self._fast.predict_proba(text))

    def score_many(self, messages: Iterable[tuple[str, str]]) -> list[Scores]:
        """``score`` for many messages at once (one matrix transform: faster per message).

        Below ``BATCH_FROM`` messages, each is scored on the single-message fast path: a
        batch transform costs about 10 ms a call before its first message, more than that
        many messages cost one by one (the workers score chunks of 25).
        """
        texts = [compose_text(s, b) for s, b in messages]
        if not texts:
            return []
        if len(texts) < BATCH_FROM:
            return [_scores(text, self._fast.predict_proba(text)) for text in texts]
        rows = zip(*_batch_proba(self._pipelines, texts), strict=True)
        return [_scores(text, list(row)) for text, row in zip(texts, rows, strict=True)]

    def decide(self, scores: Scores, signals: Signals | None = None) -> TriageResult:
        """The result for a scored message: the text rules that fired, and the signals.

        Cheap next to ``score``, so a change of signals (a spike noticed) decides again
        without scoring again.
        """
        cat, sev = scores.category, scores.severity
        category, confidence = _top(self.categories, cat)
        model_severity, sev_p = ordered_severity(self.severities, sev)
        if scores.empty:  # nothing to judge: the priors alone must not escalate
            model_severity, sev_p = EMPTY_SEVERITY, 0.0
        outcome = raise_severity(scores.rules, model_severity, signals)
        p_escalate = self.escalation_probability(scores)
        # Nothing to judge: the priors alone must not escalate.
        judged = None if scores.empty else p_escalate
        flagged = judged is not None and judged >= self.escalation_threshold
        severity = max_severity(outcome.severity, ESCALATED_FLOOR) if flagged else outcome.severity
        reasons = [
            f"model: category={category} p={confidence:.2f}",
            f"model: severity={model_severity} p={sev_p:.2f}",
            *self._escalation_reason(judged, flagged),
            *(f"rule: {name}" for name in outcome.fired),
        ]
        needs_review = confidence < self.review_threshold or scores.empty
        if needs_review:
            reasons.append(f"review: confidence below {self.review_threshold:.2f}")
        escalate = severity == SEVERITIES[-1] or outcome.escalate or flagged
        probabilities = {
            "category": dict(zip(self.categories, map(float, cat), strict=True)),
            "severity": dict(zip(self.severities, map(float, sev), strict=True)),
        }
        if p_escalate is not None:
            probabilities["escalate"] = {"yes": p_escalate}
        return TriageResult(
            category, severity, escalate, confidence, needs_review, tuple(reasons),
            self.version, probabilities,
        )

    def escalation_probability(self, scores: Scores) -> float | None:
        """The "escalate now" score the threshold applies to: the stacked score when the model
        has one, else the escalation model's own probability (None without that model)."""
        if scores.escalation is None or self._stack is None:
            return scores.escalation
        severity = dict(zip(self.severities, map(float, scores.severity), strict=True))
        return self._stack.probability(
            escalation.features(scores.escalation, severity, scores.rules))

    def _escalation_reason(self, p: float | None, flagged: bool) -> list[str]:
        if p is None:
            return []
        relation = ">=" if flagged else "<"
        return [f"model: escalate p={p:.2f} {relation} {self.escalation_threshold:.2f}"]


def _top(labels: tuple[str, ...], proba: NDArray[np.float64]) -> tuple[str, float]:
    i = int(np.argmax(proba))
    return labels[i], float(proba[i])


def ordered_severity(labels: Sequence[str], proba: NDArray[np.float64]) -> tuple[str, float]:
    """The median severity of a probability row (``labels`` in the model's order) and its
    probability: the lowest level at which the probability from ``low`` upwards reaches 0.5."""
    by_label = dict(zip(labels, map(float, proba), strict=True))
    ordered = [level for level in SEVERITIES if level in by_label]
    cumulative = 0.0
    for level in ordered:
        cumulative += by_label[level]
        if cumulative >= 0.5:
            return level, by_label[level]
    return ordered[-1], by_label[ordered[-1]]


class _FastPath:
    """Per-message prediction without sklearn's per-call overhead (same numbers, see _fast)."""

    def __init__(self, *pipelines: Pipeline) -> None:
        self._pipelines = pipelines
        self._unions = [p.steps[0][1] for p in pipelines]
        self._features = [FastFeatures.for_pipeline(p) for p in pipelines]
        self._linear = [scorer_for(p) for p in pipelines]

    def predict_proba(self, text: str) -> list[NDArray[np.float64]]:
        """One probability row per pipeline; a shared feature union is computed once."""
        done: dict[int, Any] = {}
        rows = []
        for pipeline, union, features, linear in zip(
            self._pipelines, self._unions, self._features, self._linear, strict=True,
        ):
            if features is None or linear is None:
                rows.append(np.asarray(pipeline.predict_proba([text])[0], dtype=np.float64))
                continue
            if id(union) not in done:
                done[id(union)] = features.vectorize(text)
            rows.append(linear.predict_proba(done[id(union)]))
        return rows


def _scores(text: str, rows: Sequence[Any]) -> Scores:
    """Scores from one probability row per pipeline: category, severity[, escalation]."""
    escalation = float(rows[2][1]) if len(rows) > 2 else None
    return Scores(np.asarray(rows[0], dtype=np.float64), np.asarray(rows[1], dtype=np.float64),
                  escalation, text_hits(text), not text.strip())


def _batch_proba(pipelines: Sequence[Pipeline], texts: list[str]) -> list[Any]:
    """``predict_proba`` of each pipeline, transforming a shared feature union only once."""
    matrices: dict[int, Any] = {}
    rows = []
    for pipeline in pipelines:
        union = pipeline.steps[0][1]
        if id(union) not in matrices:
            matrices[id(union)] = union.transform(texts)
        rows.append(pipeline.steps[-1][1].predict_proba(matrices[id(union)]))
    return rows
