"""Status: the complaint procedure's allowed moves, stamped, and what they start.

The moves follow the seeds' steps in order (acknowledge, investigate, resolve, follow up,
close: "update complaint status at each stage of the resolution process"):

    new           -> acknowledged   the acknowledgment went out (``acknowledgment_sent``), or
                                    an agent acknowledged the customer some other way
    new           -> investigating  picked up before the acknowledgment left (it was held
                                    back for a robot or a flood, or is still in the outbox)
    acknowledged  -> investigating  someone investigates ("assign responsible personnel")
    investigating -> resolved       a resolution was proposed and implemented
    resolved      -> closed         documented and closed after the follow-up
    resolved      -> investigating  reopened: the customer replied it is not solved
    closed        -> investigating  reopened (SPEC: "reopen allowed"); a reply long after
                                    closing opens a new, linked case instead

Nothing skips a step (acknowledged -> resolved or closed: investigate first), nothing goes
back to new or acknowledged, and a closed case takes no reply from an agent until it is
reopened. An admin (``[cases] admins``) may force any other move with a reason; the event
records that it was forced, by whom and why.

Resolving a case sets when the satisfaction follow-up is due; the sender's sending of the
acknowledgment moves a new case to acknowledged (``acknowledgment_sent``). Moving to
investigating or resolved tells the customer (``casework._updates``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from ingestd.casework._record import record
from ingestd.casework._updates import status_update, withdraw_held
from ingestd.errors import IngestdError
from ingestd.procedure.deadlines import followup_due
from storage import Case, Outbox

if TYPE_CHECKING:
    from ingestd.services import Services

STATUSES = ("new", "acknowledged", "investigating", "resolved", "closed")
PICKED_UP = ("investigating", "resolved", "closed")
_ALLOWED = {
    "new": {"acknowledged", "investigating"},
    "acknowledged": {"investigating"},
    "investigating": {"resolved"},
    "resolved": {"closed", "investigating"},
    "closed": {"investigating"},
}
_UPDATED = ("investigating", "resolved")
_STAMP = {"acknowledged": "acknowledged_at", "resolved": "resolved_at", "closed": "closed_at"}


def allowed_moves(status: str) -> tuple[str, ...]:
    """Where a case in `status` may go without an admin forcing it (the desk's choices)."""
    return tuple(s for s in STATUSES if s in _ALLOWED.get(status, set()))


def set_status(session: Session, case: Case, status: str, *, actor: str, at: datetime,
               note: str | None = None, forced: bool = False) -> None:
    """Move a case to `status`, refusing changes the complaint procedure does not allow.

    `forced` (an admin's, checked by ``change_status``) allows any move and says so."""
    if status == case.status:
        return
    if not forced and status not in _ALLOWED.get(case.status, set()):
        raise IngestdError(f"{case.reference}: cannot go from {case.status} to {status}; "
                           f"allowed: {', '.join(sorted(_ALLOWED[case.status]))} "
                           "(an admin may --force it, with a --note saying why)")
    record(session, case, "status", actor=actor, at=at, old=case.status, new=status,
           note=f"forced: {note}" if forced else note, data={"forced": True} if forced else None)
    if case.status in _UPDATED:  # only a move to these queues a status update to hold
        withdraw_held(session, case, actor=actor, at=at)
    case.status = status
    if status in _STAMP and getattr(case, _STAMP[status]) is None:
        setattr(case, _STAMP[status], at)
    if status == "investigating":
        case.resolved_at = case.closed_at = None


def check_force(services: Services, actor: str, note: str | None, what: str) -> None:
    """Only an admin forces a move the procedure does not allow, and says why."""
    if actor not in services.settings.cases.admins:
        raise IngestdError(f"only an admin may force {what}: {actor!r} is not in "
                           "[cases] admins in config.toml")
    if not (note or "").strip():
        raise IngestdError(f"say why {what} is forced: --note")


def change_status(session: Session, services: Services, case: Case, status: str, *,
                  actor: str, at: datetime, note: str | None = None, force: bool = False,
                  resolution: str | None = None) -> str | None:
    """Move the case on and tell the customer; resolving it sets when the satisfaction
    follow-up is due. `resolution` is what was done, in words for the customer.

    Returns why the customer was not told, when a move to investigating or resolved sent
    no update (a robot, switched off)."""
    if status not in STATUSES:
        raise IngestdError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    if status == case.status:
        return None
    forced = force and status not in _ALLOWED.get(case.status, set())
    if forced:
        check_force(services, actor, note, f"{case.status} -> {status}")
    set_status(session, case, status, actor=actor, at=at, note=note, forced=forced)
    if status == "resolved" and case.followup_sent_at is None:
        case.followup_due = followup_due(at, services.settings.sla, services.calendar)
    elif status == "investigating":
        case.followup_due = None
    if status in PICKED_UP and case.assigned_at is None:
        case.assigned_at = at
    untold = status_update(session, services, case, status, actor=actor, at=at,
                           resolution=resolution)
    if untold is not None:
        record(session, case, "update_skipped", actor=actor, at=at, new=status, note=untold)
    return untold


def acknowledgment_sent(session: Session, rows: Sequence[Outbox], at: datetime) -> None:
    """The sender's callback for delivered outbox rows: an acknowledgment sent to the
    customer moves a new case to acknowledged."""
    ids = {row.case_id for row in rows if row.kind.startswith("acknowledgment") and row.case_id}
    if not ids:
        return
    query = select(Case).options(load_only(Case.id, Case.reference, Case.status,
                                           Case.acknowledged_at))  # what the move needs
    for case in session.scalars(query.where(Case.id.in_(ids), Case.status == "new")):
        set_status(session, case, "acknowledged", actor="ingestd", at=at,
                   note="acknowledgment sent")
