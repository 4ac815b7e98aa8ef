"""The desk's own actions: internal notes, "not a complaint", bulk changes, and the mail an
agent gets when a customer writes again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from ingestd.casework._agent import assign, correct_labels
from ingestd.casework._floods import notify
from ingestd.casework._read import case_view, get_case
from ingestd.casework._record import record
from ingestd.casework._status import change_status
from ingestd.errors import IngestdError
from storage import AppUser, Case, CaseMessage, CaseNote, Outbox

if TYPE_CHECKING:
    from ingestd.services import Services

NOTE_MAX = 10_000  # characters in one note
BULK_MAX = 500  # cases in one bulk change
BULK_ACTIONS = ("assign", "status", "label")


def add_note(session: Session, case: Case, text: str, *, actor: str, at: datetime) -> None:
    """An internal note for colleagues: kept with the case, never mailed to anyone."""
    text = text.strip()
    if not text:
        raise IngestdError("the note is empty")
    if len(text) > NOTE_MAX:
        raise IngestdError(f"the note is {len(text)} characters; keep it under {NOTE_MAX}")
    session.add(CaseNote(case_id=case.id, author=actor, at=at, text=text))
    record(session, case, "note", actor=actor, at=at)


def notes(session: Session, case: Case) -> list[dict[str, Any]]:
    """The case's internal notes, oldest first."""
    return [{"author": n.author, "at": n.at.isoformat(), "text": n.text}
            for n in session.scalars(select(CaseNote).where(CaseNote.case_id == case.id)
                                     .order_by(CaseNote.id))]


def mark_not_complaint(session: Session, case: Case, *, actor: str, at: datetime,
                       reason: str) -> None:
    """Spam, a newsletter, a mail that is no complaint: the case is closed without a word to
    the sender (mail to them not yet sent is withdrawn), and from then on it is left out of
    the monthly report, the QA sample and the training data."""
    reason = reason.strip()
    if not reason:
        raise IngestdError("say why it is not a complaint (spam, newsletter, ...)")
    if case.not_complaint:
        return
    withdrawn = _withdraw_customer_mail(session, case, at)
    record(session, case, "not_complaint", actor=actor, at=at, old=case.status, new="closed",
           note=reason, data={"withdrawn": withdrawn} if withdrawn else None)
    case.not_complaint = True
    case.status, case.needs_review, case.followup_due = "closed", False, None
    if case.closed_at is None:
        case.closed_at = at


def _withdraw_customer_mail(session: Session, case: Case, at: datetime) -> list[str]:
    """Drop the mail to the customer still waiting in the outbox (not being sent)."""
    rows = session.execute(select(Outbox.id, Outbox.kind, Outbox.message_id).where(
        Outbox.case_id == case.id, Outbox.recipient == (case.customer_address or ""),
        Outbox.state.in_(("pending", "held")),
        or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < at))).all()
    for row_id, _kind, message_id in rows:
        session.execute(delete(CaseMessage).where(CaseMessage.message_id == message_id))
        session.execute(delete(Outbox).where(Outbox.id == row_id))
    return [kind for _id, kind, _mid in rows]


def corrected_cases(session: Session) -> list[Case]:
    """Cases whose labels an agent corrected: the training data `ingestd train` adds. A case
    marked not a complaint teaches nothing about complaints and is left out."""
    return list(session.scalars(select(Case).where(
        Case.labelled_by.is_not(None), Case.not_complaint.is_(False)).order_by(Case.id)))


def bulk(session: Session, services: Services, refs: Sequence[str], action: str, value: str,
         *, actor: str, at: datetime) -> int:
    """Assign, move (status) or label (category correction) every case of `refs` at once.

    All or nothing: a case the action is refused for (a move the procedure forbids, an
    unknown user) stops the whole change, with that case's reason; the caller's transaction
    then writes none of it. Returns how many cases changed (those already so are counted
    out)."""
    if action not in BULK_ACTIONS:
        raise IngestdError(f"unknown bulk action {action!r}; use one of {', '.join(BULK_ACTIONS)}")
    unique = list(dict.fromkeys(r.strip() for r in refs if r.strip()))
    if not unique:
        raise IngestdError("choose at least one case")
    if len(unique) > BULK_MAX:
        raise IngestdError(f"{len(unique)} cases at once; change at most {BULK_MAX} at a time")
    if not value.strip():
        raise IngestdError(f"give the value to {action}")
    changed = 0
    for reference in unique:
        case = get_case(session, reference)
        before = (case.assignee, case.status, case.category)
        try:
            if action == "assign":
                assign(session, case, value, actor=actor, at=at, services=services)
            elif action == "status":
                change_status(session, services, case, value, actor=actor, at=at)
            else:
                correct_labels(session, case, category=value, severity=None, actor=actor, at=at,
                               categories=services.settings.triage.categories)
        except IngestdError as exc:
            message = str(exc)
            prefix = "" if message.startswith(reference) else f"{reference}: "
            raise IngestdError(f"{prefix}{message}; nothing was changed") from exc
        changed += (case.assignee, case.status, case.category) != before or action == "label"
    return changed


def customer_replied(session: Session, services: Services, case: Case, *, text: str,
                     at: datetime, key: str, reopened: bool) -> None:
    """Tell the case's assignee (their user's address), or the team when nobody has it or
    the assignee is no user, that the customer wrote again (through the flood caps)."""
    user = None if case.assignee is None else session.scalar(
        select(AppUser).where(AppUser.name == case.assignee, AppUser.disabled.is_(False)))
    recipient = user.email if user else services.settings.routing.address(case.category)
    draft = services.composer.compose("customer_replied", recipient, case.reference or "", {
        **case_view(case, services.calendar.zone), "reply_text": text, "reopened": reopened})
    notify(session, draft, case, key=key, at=at, floods=services.settings.floods)
