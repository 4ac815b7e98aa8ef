"""Complaint triage: a scikit-learn model for category and severity plus documented rules.

Public API::

    from triage import Classifier, Signals, apply_rules
    result = Classifier.load("models/current.skops").classify(subject, body, Signals())
    result.as_json()

See ``triage/README.md`` for the model, the rules, training and the corpus.
"""

from typing import TYPE_CHECKING, Any

from triage.labels import CATEGORIES, SEVERITIES
from triage.result import Signals, TriageResult
from triage.rules import apply_rules

if TYPE_CHECKING:
    from triage.model import Classifier

__all__ = ["CATEGORIES", "SEVERITIES", "Classifier", "Signals", "TriageResult", "apply_rules"]


def __getattr__(name: str) -> Any:
    """Import scikit-learn only when the model is used: the CLI's labels stay fast."""
    if name == "Classifier":
        from triage.model import Classifier  # noqa: PLC0415  (scikit-learn loads with the first model)

        return Classifier
    raise AttributeError(f"module 'triage' has no attribute {name!r}")
