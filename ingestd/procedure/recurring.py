"""Recurring complaints: a customer who keeps writing, and a category that suddenly swells.

The seeds send "serious, complex or recurring" complaints to senior management (level 3).
A customer's third complaint in 30 days is marked by the triage rules (`recurring_customer`,
fed by the pipeline's count); a category spike is decided here and handed to triage as
`Signals.category_spike` (rule `category_spike`). Either makes the case `senior`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingestd.procedure.spikes import SpikePolicy
from storage import Case
from storage.ops import once_per_transaction
from storage.queries import cases_in_category

SENIOR_REASONS = ("rule: recurring_customer", "rule: category_spike")
SENIOR_FLAGS = ("recurring", "category_spike", "senior")
__all__ = ["SENIOR_FLAGS", "SENIOR_REASONS", "SpikePolicy", "category_spike", "is_senior"]


def category_spike(session: Session, category: str | None, now: datetime,
                   policy: SpikePolicy | None = None) -> bool:
    """True when `category` has unusually many cases in the window ending at `now`."""
    if not category:
        return False
    policy = policy or SpikePolicy()
    window = timedelta(hours=policy.window_hours)
    start, baseline_start = now - window, now - window - timedelta(days=policy.baseline_days)
    known_from = max(baseline_start, _first_case_at(session) or start)
    windows = (start - known_from) / window
    if windows < 1:
        return False  # less than one window of history: there is no "usual" to compare with
    recent = _count(session, category, start, now)
    if recent <= policy.min_cases:
        return False
    # The baseline ends a window before now, where a batch's new cases do not land: one
    # count per category serves the batch (the window's start moves by the batch's seconds).
    key = f"spike_baseline:{category}:{policy.window_hours}:{policy.baseline_days}"
    baseline = once_per_transaction(session, key,
                                    lambda: _count(session, category, known_from, start))
    return recent > policy.factor * baseline / windows


def _first_case_at(session: Session) -> datetime | None:
    """The oldest case's arrival; once known, one query serves the batch (new cases are newer)."""
    return once_per_transaction(session, "first_case_at",
                                lambda: session.scalar(select(func.min(Case.received_at))))




def _count(session: Session, category: str, start: datetime, end: datetime) -> int:
    return cases_in_category(session, category, start, end)


def is_senior(case: Case) -> bool:
    """Recurring (third complaint in 30 days), part of a spike, or marked senior by hand."""
    reasons = (case.triage or {}).get("reasons", [])
    return any(r in SENIOR_REASONS for r in reasons) or any(
        f in SENIOR_FLAGS for f in case.flags or [])
