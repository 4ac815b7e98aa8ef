"""The "escalate now" score: the escalation model read together with severity and the rules.

The escalation model alone ranks critical mail no better than the severity model's
``critical`` does; grave words in harmless context fool one where the other holds. A small
logistic regression stacked on what the text already gave (the escalation model's log-odds,
the severity model's log-probabilities along low..critical, and which text rules fired) ranks
them better: in 5-fold cross-validation on the training corpus, precision at recall 0.95 went
from 0.77 (the model's own probability beside severity and the rules) to 0.80. It is fitted at
training time on out-of-fold probabilities, so it learns how far to trust each model on mail
those models never saw, and it is stored as plain numbers in the model's metadata.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from triage.labels import SEVERITIES
from triage.rules import TEXT_RULES, Hit

STACK_KEY = "escalation_stack"  # metadata key of the stacked score's coefficients
_EPS = 1e-6
RULE_SIGNALS: tuple[Hit, ...] = tuple(dict.fromkeys((r.name, r.floor) for r in TEXT_RULES))
FEATURES: tuple[str, ...] = (
    "escalation model log-odds",
    *(f"log p(severity={level})" for level in SEVERITIES),
    *(f"rule {name} ({floor})" for name, floor in RULE_SIGNALS),
)


def features(p_escalate: float, severity: Mapping[str, float],
             hits: Sequence[Hit]) -> list[float]:
    """What the stacked score reads for one message (``FEATURES``, in order); a severity the
    model does not know counts as improbable."""
    p = min(max(p_escalate, _EPS), 1 - _EPS)
    fired = set(hits)
    return [
        math.log(p / (1 - p)),
        *(math.log(severity.get(level, 0.0) + _EPS) for level in SEVERITIES),
        *(1.0 if signal in fired else 0.0 for signal in RULE_SIGNALS),
    ]


@dataclass(frozen=True)
class Stack:
    """A fitted stacked score: one weight per feature and an intercept."""

    coef: tuple[float, ...]
    intercept: float

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> "Stack | None":
        """The stack a model was saved with; None for a model from before it (or whose
        features no longer match), which then reads its escalation model alone."""
        saved = metadata.get(STACK_KEY)
        if not isinstance(saved, Mapping) or len(saved.get("coef", ())) != len(FEATURES):
            return None
        return cls(tuple(float(w) for w in saved["coef"]), float(saved["intercept"]))

    def as_metadata(self) -> dict[str, Any]:
        """Plain numbers and names for the model file and the card."""
        return {"coef": list(self.coef), "intercept": self.intercept,
                "features": list(FEATURES)}

    def probability(self, row: Sequence[float]) -> float:
        """The stacked probability of one feature row."""
        z = self.intercept + sum(w * x for w, x in zip(self.coef, row, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


STACK_C = 1.0  # the stack's regularisation: a dozen features, thousands of rows
STACK_FOLDS = 5


def fit(rows: Sequence[Sequence[float]], gold: Sequence[bool]) -> tuple[Stack, list[float]]:
    """The stack fitted on out-of-fold feature rows, and its own out-of-fold probabilities
    (the threshold is chosen on scores it did not see while fitting; with too few of a class
    for folds, its probabilities on the rows it was fitted on)."""
    model = LogisticRegression(C=STACK_C, max_iter=2000)
    folds = min(STACK_FOLDS, sum(gold), len(gold) - sum(gold))
    oof = None
    if folds >= 2:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42)
        oof = cross_val_predict(model, rows, gold, cv=cv, method="predict_proba")[:, 1]
    model.fit(rows, gold)
    stack = Stack(tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]))
    if oof is None:
        return stack, [stack.probability(row) for row in rows]
    return stack, [float(p) for p in oof]
