"""Reading cases: lists with filters, a full view of one case, the case as templates see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from ingestd.errors import NotFound
from storage import Case, CaseMessage, Event, Outbox
from storage.queries import case_by_reference


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    category: str | None = None
    severity: str | None = None
    level: int | None = None
    assignee: str | None = None
    overdue_at: datetime | None = None
    customer: str | None = None


def list_cases(session: Session, filters: CaseFilter = CaseFilter()) -> list[dict[str, Any]]:
    counts = (select(CaseMessage.case_id, func.count(CaseMessage.id).label("n"))
              .where(CaseMessage.direction == "in").group_by(CaseMessage.case_id).subquery())
    query = (select(Case, func.coalesce(counts.c.n, 0))
             .outerjoin(counts, counts.c.case_id == Case.id))
    rows = session.execute(_filtered(query, filters).order_by(Case.id)).all()
    return [summary(case, int(count)) for case, count in rows]


def _filtered(query: Select[Case, int], f: CaseFilter) -> Select[Case, int]:
    for column, value in ((Case.status, f.status), (Case.category, f.category),
                          (Case.severity, f.severity), (Case.escalation_level, f.level),
                          (Case.assignee, f.assignee), (Case.customer_address, f.customer)):
        if value is not None:
            query = query.where(column == value)
    if f.overdue_at is not None:
        query = query.where(Case.status.notin_(("resolved", "closed")), or_(
            Case.resolve_due < f.overdue_at,
            (Case.assignee.is_(None)) & (Case.investigate_due < f.overdue_at)))
    return query


def summary(case: Case, message_count: int) -> dict[str, Any]:
    """The `cases list --json` record (SPEC: relied on by outside scripts)."""
    return {
        "reference": case.reference, "status": case.status, "category": case.category,
        "severity": case.severity, "escalation_level": case.escalation_level,
        "customer_address": case.customer_address, "customer_name": case.customer_name,
        "subject": case.subject, "message_count": message_count,
        "assignee": case.assignee, "needs_review": case.needs_review,
        "received_at": _iso(case.received_at), "resolve_due": _iso(case.resolve_due),
        **_next_due(case),
    }


def _next_due(case: Case) -> dict[str, str | None]:
    """The next step the case waits for and when it falls due (what an agent plans by)."""
    if case.status == "closed":
        return {"next_step": None, "next_due": None}
    for step, due, done in (("acknowledge", case.acknowledge_due, case.acknowledged_at),
                            ("investigate", case.investigate_due, case.assigned_at),
                            ("resolve", case.resolve_due, case.resolved_at),
                            ("followup", case.followup_due, case.followup_sent_at)):
        if done is None and due is not None:
            return {"next_step": step, "next_due": _iso(due)}
    return {"next_step": None, "next_due": None}


def get_case(session: Session, reference: str) -> Case:
    case = case_by_reference(session, reference)
    if case is None:
        raise NotFound(f"no case {reference!r}; list them with: ingestd cases list")
    return case


def detail(session: Session, case: Case) -> dict[str, Any]:
    """Everything about one case, for `cases show --json`."""
    messages = [m for m in case.messages if m.direction == "in"]
    outbox = session.scalars(select(Outbox).where(Outbox.case_id == case.id).order_by(Outbox.id))
    return {
        **summary(case, len(messages)),
        "description": case.description, "order_numbers": case.order_numbers,
        "phone_numbers": case.phone_numbers, "flags": case.flags,
        "linked_case": _reference(session, case.linked_case_id),
        "triage": case.triage, "confidence": case.confidence, "escalate": case.escalate,
        "deadlines": {step: _iso(getattr(case, f"{step}_due")) for step in
                      ("acknowledge", "investigate", "resolve", "followup")},
        "acknowledged_at": _iso(case.acknowledged_at), "resolved_at": _iso(case.resolved_at),
        "closed_at": _iso(case.closed_at), "satisfaction": case.satisfaction,
        "recovery": case.recovery, "corrective_action": case.corrective_action,
        "participants": [{"address": p.address, "role": p.role} for p in case.participants],
        "messages": [_message(m) for m in case.messages],
        "events": [_event(e) for e in case.events],
        "outbox": [{"kind": o.kind, "recipient": o.recipient, "state": o.state,
                    "attempts": o.attempts, "sent_at": _iso(o.sent_at),
                    "last_error": o.last_error} for o in outbox],
    }


def _message(m: CaseMessage) -> dict[str, Any]:
    return {"direction": m.direction, "message_id": m.message_id, "sender": m.sender,
            "subject": m.subject, "text": m.text, "at": _iso(m.sent_at),
            "attachments": m.attachments}


def _event(e: Event) -> dict[str, Any]:
    return {"at": _iso(e.at), "actor": e.actor, "kind": e.kind, "old": e.old, "new": e.new,
            "note": e.note}


def _reference(session: Session, case_id: int | None) -> str | None:
    return None if case_id is None else session.scalar(
        select(Case.reference).where(Case.id == case_id))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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


