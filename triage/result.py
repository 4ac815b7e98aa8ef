"""What triage hands to the pipeline: the inputs beyond the text, and the explained decision."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_REVIEW_THRESHOLD = 0.5


@dataclass(frozen=True)
class Signals:
    """Facts about the customer and the stream that the text alone cannot show.

    ``recent_complaints_30d`` counts this customer's *earlier* complaints in the last 30 days
    (the caller looks them up); ``category_spike`` says the category is unusually busy now.
    """

    recent_complaints_30d: int = 0
    category_spike: bool = False


@dataclass(frozen=True)
class TriageResult:
    """The triage decision for one message, with everything needed to explain it.

    ``confidence`` is the category model's top probability: the category decides routing, so
    its certainty is what an agent needs to know; severity has its own map in ``probabilities``.
    """

    category: str
    severity: str
    escalate: bool
    confidence: float
    needs_review: bool
    reasons: tuple[str, ...]
    model_version: str
    probabilities: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The public JSON shape printed by ``ingestd classify --json``."""
        return {
            "category": self.category,
            "severity": self.severity,
            "escalate": self.escalate,
            "confidence": round(self.confidence, 4),
            "reasons": list(self.reasons),
            "model_version": self.model_version,
        }
