"""Changes to a case that must always be recorded the same way: status, escalation, outbox.

Every change is an event with actor, time and note. Mail that a change causes is written
to the outbox in the same transaction, never sent from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingestd.errors import IngestdError
from ingestd.mailout import Composer, Draft
from storage import Base, Case, CaseMessage, Event, Outbox
from storage.pending import pending_rows

STATUSES = ("new", "acknowledged", "investigating", "resolved", "closed")
LEVEL_ROLES = {1: "supervisor", 2: "department manager", 3: "senior management"}
_ALLOWED = {
    "new": {"acknowledged", "investigating", "resolved", "closed"},
    "acknowledged": {"investigating", "resolved", "closed"},
    "investigating": {"acknowledged", "resolved", "closed"},
    "resolved": {"investigating", "closed"},
    "closed": {"investigating"},
}


def set_status(session: Session, case: Case, status: str, *, actor: str, at: datetime,
               note: str | None = None) -> None:
    """Move a case to `status`, refusing changes the complaint procedure does not allow."""
    if status == case.status:
        return
    if status not in _ALLOWED.get(case.status, set()):
        raise IngestdError(f"{case.reference}: cannot go from {case.status} to {status}; "
                           f"allowed: {', '.join(sorted(_ALLOWED[case.status]))}")
    record(session, case, "status", actor=actor, at=at, old=case.status, new=status, note=note)
    case.status = status
    stamp = {"acknowledged": "acknowledged_at", "resolved": "resolved_at", "closed": "closed_at"}
    if status in stamp and getattr(case, stamp[status]) is None:
        setattr(case, stamp[status], at)
    if status == "investigating":
        case.resolved_at = case.closed_at = None


def record(session: Session, case: Case, kind: str, *, actor: str, at: datetime,
           old: str | None = None, new: str | None = None, note: str | None = None,
           data: dict[str, Any] | None = None) -> None:
    _add(session, case, Event, case_id=case.id, kind=kind, actor=actor, at=at, old=old,
         new=new, note=note, data=data)


def enqueue(session: Session, draft: Draft, case: Case | None, *, key: str | None = None,
            at: datetime, to_customer: bool = False) -> None:
    """Put a composed mail in the outbox; mail to the customer also threads onto the case."""
    _add(session, case, Outbox, case_id=case.id if case else None, kind=draft.kind,
         recipient=draft.recipient, message_id=draft.message_id, key=key, raw=draft.raw,
         created_at=at, next_attempt_at=at)
    if case is not None and to_customer:
        # The same columns as a received mail's row, so a flush inserts both in one batch.
        _add(session, case, CaseMessage, case_id=case.id, direction="out", raw_message_id=None,
             attachments=[], message_id=draft.message_id, sender=draft.sender,
             subject=draft.subject, text=draft.text, sent_at=at)


def _add(session: Session, case: Case | None, model: type[Base], **values: Any) -> None:
    """A row of `case`: queued with it when it is not written yet (`storage.pending`)."""
    if case is not None and inspect(case).pending:
        pending_rows(session).add(session, model, **values)
    else:
        session.add(model(**values))


def escalate(session: Session, case: Case, level: int, *, reason: str, composer: Composer,
             address: str, at: datetime, actor: str = "ingestd") -> bool:
    """Raise `case` to `level` once, record it and notify that level's address.

    A unique index on escalation events makes a second sweep (or a second instance) that
    reaches the same decision fail harmlessly instead of notifying twice.
    """
    if level <= case.escalation_level or not _first_to_escalate(
            session, case, level, reason=reason, actor=actor, at=at):
        return False
    case.escalation_level = level
    draft = composer.compose("escalation", address, case.reference or "", {
        **case_view(case), "level": level, "level_role": LEVEL_ROLES[level], "reason": reason})
    enqueue(session, draft, case, key=f"escalation:{case.id}:{level}", at=at)
    return True


def _first_to_escalate(session: Session, case: Case, level: int, *, reason: str, actor: str,
                       at: datetime) -> bool:
    """Record the escalation event; False when another sweep or instance already did."""
    def add_event() -> None:
        record(session, case, "escalation", actor=actor, at=at,
               old=str(case.escalation_level), new=str(level), note=reason)

    if inspect(case).pending:  # a case not written yet has no escalation to collide with
        add_event()
        return True
    try:
        with session.begin_nested():
            add_event()
            session.flush()
    except IntegrityError:
        return False
    return True


def case_view(case: Case, zone: tzinfo = UTC) -> dict[str, Any]:
    """The case as templates see it; times in `zone` (the team's, for customers' mail)."""
    triage = case.triage or {}

    def _fmt(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%A %d %B %Y, %H:%M %Z") if value else "not set"

    return {
        "reference": case.reference, "status": case.status, "subject": case.subject,
        "customer_name": case.customer_name, "customer_address": case.customer_address,
        "description": case.description, "category": case.category, "severity": case.severity,
        "confidence": case.confidence, "needs_review": case.needs_review,
        "escalation_level": case.escalation_level, "reasons": triage.get("reasons", []),
        "assignee": case.assignee, "order_numbers": case.order_numbers or [],
        "phone_numbers": case.phone_numbers or [], "flags": case.flags or [],
        "received_at": _fmt(case.received_at), "acknowledge_due": _fmt(case.acknowledge_due),
        "investigate_due": _fmt(case.investigate_due), "resolve_due": _fmt(case.resolve_due),
    }


def latest_inbound(session: Session, case: Case) -> CaseMessage | None:
    return session.scalar(select(CaseMessage).where(
        CaseMessage.case_id == case.id, CaseMessage.direction == "in")
        .order_by(CaseMessage.id.desc()).limit(1))


def correct_labels(session: Session, case: Case, *, category: str | None, severity: str | None,
                   actor: str, at: datetime, categories: Sequence[str]) -> None:
    """An agent's correction of the triage: recorded, and used as training data from now on.

    ``categories`` is the configured taxonomy (``[triage] categories``)."""
    from triage.labels import SEVERITIES  # noqa: PLC0415  (only the names: no scikit-learn)

    if category is not None and category not in categories:
        raise IngestdError(f"unknown category {category!r}; use one of {', '.join(categories)}")
    if severity is not None and severity not in SEVERITIES:
        raise IngestdError(f"unknown severity {severity!r}; use one of {', '.join(SEVERITIES)}")
    old = f"{case.category}/{case.severity}"
    case.category = category or case.category
    case.severity = severity or case.severity
    case.labelled_by, case.labelled_at, case.needs_review = actor, at, False
    record(session, case, "label", actor=actor, at=at, old=old,
           new=f"{case.category}/{case.severity}")
