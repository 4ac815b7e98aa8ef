"""Status: the complaint procedure's allowed moves, stamped, and what they start.

Resolving a case sets when the satisfaction follow-up is due; the sender's sending of the
acknowledgment moves a new case to acknowledged (``acknowledgment_sent``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd.casework._record import record
from ingestd.errors import IngestdError
from ingestd.procedure.deadlines import followup_due
from storage import Case, Outbox

if TYPE_CHECKING:
    from ingestd.services import Services

STATUSES = ("new", "acknowledged", "investigating", "resolved", "closed")
PICKED_UP = ("investigating", "resolved", "closed")
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


def change_status(session: Session, services: Services, case: Case, status: str, *,
                  actor: str, at: datetime, note: str | None = None) -> None:
    """Move the case on; resolving it sets when the satisfaction follow-up is due."""
    if status not in STATUSES:
        raise IngestdError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    set_status(session, case, status, actor=actor, at=at, note=note)
    if status == "resolved" and case.followup_sent_at is None:
        case.followup_due = followup_due(at, services.settings.sla, services.calendar)
    elif status == "investigating":
        case.followup_due = None
    if status in PICKED_UP and case.assigned_at is None:
        case.assigned_at = at


def acknowledgment_sent(session: Session, rows: Sequence[Outbox], at: datetime) -> None:
    """The sender's callback for delivered outbox rows: an acknowledgment sent to the
    customer moves a new case to acknowledged."""
    ids = {row.case_id for row in rows if row.kind.startswith("acknowledgment") and row.case_id}
    if not ids:
        return
    for case in session.scalars(select(Case).where(Case.id.in_(ids), Case.status == "new")):
        set_status(session, case, "acknowledged", actor="ingestd", at=at,
                   note="acknowledgment sent")
