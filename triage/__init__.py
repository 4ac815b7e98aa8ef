"""Complaint triage: a scikit-learn model for category and severity plus documented rules.

Public API::

    from triage import Classifier, Signals, apply_rules
    result = Classifier.load("models/current.skops").classify(subject, body, Signals())
    result.as_json()

See ``triage/README.md`` for the model, the rules, training and the corpus.
"""

from triage.labels import CATEGORIES, SEVERITIES
from triage.model import Classifier
from triage.result import Signals, TriageResult
from triage.rules import apply_rules

__all__ = ["CATEGORIES", "SEVERITIES", "Classifier", "Signals", "TriageResult", "apply_rules"]
