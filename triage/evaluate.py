"""Held-out evaluation: macro-F1, per-class precision/recall, confusion, escalation.

Severity is scored as the system serves it (model plus rules, with default signals), because
that is what decides the clock. Escalation recall is the fraction of messages that must escalate
(gold ``escalate``, or gold severity critical where no escalate label is given) that the system
escalates; precision is the fraction of escalated messages that had to be.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from triage.labels import CATEGORIES, SEVERITIES
from triage.model import Classifier
from triage.records import LabelledText


@dataclass(frozen=True)
class ClassMetrics:
    """Scores for one label."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class TaskMetrics:
    """Scores for one task (category or severity)."""

    macro_f1: float
    accuracy: float
    per_class: dict[str, ClassMetrics]
    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Evaluation:
    """A model's scores on one labelled set."""

    model_version: str
    size: int
    category: TaskMetrics | None
    severity: TaskMetrics | None
    escalation_recall: float | None
    escalation_precision: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def score(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> TaskMetrics:
    """Metrics over the labels present in gold or predictions, in canonical order."""
    present = [lab for lab in labels if lab in set(gold) | set(predicted)]
    p, r, f, s = precision_recall_fscore_support(
        gold, predicted, labels=present, zero_division=0,
    )
    per_class = {
        lab: ClassMetrics(float(p[i]), float(r[i]), float(f[i]), int(s[i]))
        for i, lab in enumerate(present)
    }
    matrix = confusion_matrix(gold, predicted, labels=present)
    accuracy = sum(g == q for g, q in zip(gold, predicted, strict=True)) / max(1, len(gold))
    return TaskMetrics(
        float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)),
        accuracy, per_class, tuple(present), tuple(tuple(int(v) for v in row) for row in matrix),
    )


def _escalation(pairs: Sequence[tuple[bool, bool]]) -> tuple[float | None, float | None]:
    """Recall and precision of (gold, escalated) pairs; None where undefined."""
    must = [escalated for gold, escalated in pairs if gold]
    raised = [gold for gold, escalated in pairs if escalated]
    return (sum(must) / len(must) if must else None,
            sum(raised) / len(raised) if raised else None)


def evaluate(classifier: Classifier, records: Sequence[LabelledText]) -> Evaluation:
    """Classify ``records`` and score every label they carry."""
    results = classifier.classify_many((r.subject, r.body) for r in records)
    pairs = list(zip(records, results, strict=True))
    cat = [(r.category, x.category) for r, x in pairs if r.category]
    sev = [(r.severity, x.severity) for r, x in pairs if r.severity]
    esc = [(bool(r.must_escalate), x.escalate) for r, x in pairs if r.must_escalate is not None]
    categories = [*CATEGORIES, *sorted({label for pair in cat for label in pair} - set(CATEGORIES))]
    recall, precision = _escalation(esc)
    return Evaluation(
        classifier.version,
        len(records),
        score([g for g, _ in cat], [p for _, p in cat], categories) if cat else None,
        score([g for g, _ in sev], [p for _, p in sev], SEVERITIES) if sev else None,
        recall,
        precision,
    )
