"""What agents do to a case: assign, reply, record recovery and corrective action, correct
the triage labels (training data from then on)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd.casework._floods import notify
from ingestd.casework._read import case_view
from ingestd.casework._record import enqueue, record
from ingestd.casework._status import check_force
from ingestd.casework.users import check_assignee
from ingestd.errors import IngestdError
from storage import Case, CaseMessage
from storage.queries import latest_inbound

if TYPE_CHECKING:
    from ingestd.services import Services

RECOVERY_KINDS = ("apology", "replacement", "refund", "compensation")


def assign(session: Session, case: Case, agent: str, *, actor: str, at: datetime,
           note: str | None = None, services: Services | None = None) -> None:
    """Give the case to `agent`; the first assignment is when the case was picked up.

    `agent` must be an enabled user once any user exists (`users.check_assignee`). With
    `services`, the user is told by mail (`assigned.txt`, through the flood caps) unless
    they assigned the case to themselves."""
    if not agent.strip():
        raise IngestdError("give the agent a name: ingestd cases assign REF AGENT")
    user = check_assignee(session, agent)
    if case.assignee == agent:
        return
    record(session, case, "assign", actor=actor, at=at, old=case.assignee, new=agent,
             note=note)
    case.assignee = agent
    if case.assigned_at is None:
        case.assigned_at = at
    if services is not None and user is not None and agent != actor:
        draft = services.composer.compose("assigned", user.email, case.reference or "", {
            **case_view(case, services.calendar.zone), "actor": actor, "note": note or ""})
        notify(session, draft, case, key=f"assigned:{case.id}:{agent}:{at.isoformat()}",
               at=at, floods=services.settings.floods)


def reply(session: Session, services: Services, case: Case, body: str, *, actor: str,
          at: datetime, force: bool = False, note: str | None = None) -> CaseMessage:
    """Send `body` to the customer, threaded under their latest mail, tagged with the reference.

    A closed case is finished: reopen it first (status investigating), or an admin forces
    the reply with a `note` saying why, recorded on the reply's event."""
    if case.status == "closed":
        if not force:
            raise IngestdError(f"{case.reference} is closed; reopen it first: ingestd cases "
                               f"status {case.reference} investigating")
        check_force(services, actor, note, "a reply to a closed case")
    if not case.customer_address:
        raise IngestdError(f"{case.reference}: the case has no customer address to reply to")
    if not body.strip():
        raise IngestdError("the reply is empty")
    latest = latest_inbound(session, case)
    subject = case.subject if case.subject.lower().startswith("re:") else f"Re: {case.subject}"
    draft = services.composer.compose(
        "agent_reply", case.customer_address, case.reference or "",
        {"body": body, "subject": subject.strip()},
        in_reply_to=latest.message_id if latest else None, automatic=False)
    enqueue(session, draft, case, key=None, at=at, to_customer=True)
    session.flush()
    sent = session.scalars(select(CaseMessage).where(
        CaseMessage.message_id == draft.message_id)).one()
    sent.sender, sent.subject, sent.text = actor, subject, body
    forced = case.status == "closed"
    record(session, case, "reply", actor=actor, at=at, new=case.customer_address,
           note=f"forced: {note}" if forced else None,
           data={"message_id": draft.message_id, **({"forced": True} if forced else {})})
    return sent


def record_recovery(session: Session, case: Case, kind: str, *, actor: str, at: datetime,
                    amount: str | None = None, note: str | None = None) -> dict[str, Any]:
    """Record a service-recovery action (seeds: apology, replacement, refund, compensation)."""
    if kind not in RECOVERY_KINDS:
        raise IngestdError(f"unknown recovery {kind!r}; use one of {', '.join(RECOVERY_KINDS)}")
    entry = {"kind": kind, "amount": _amount(amount), "note": note, "actor": actor,
             "at": at.isoformat()}
    actions = [*(case.recovery or {}).get("actions", []), entry]
    case.recovery = {"actions": actions, "latest": kind}
    record(session, case, "recovery", actor=actor, at=at, new=kind, note=note,
                    data={"amount": entry["amount"]})
    return entry


def record_corrective_action(session: Session, case: Case, *, root_cause: str, action: str,
                             actor: str, at: datetime) -> None:
    """Record the root cause found and what was changed so it does not happen again."""
    if not root_cause.strip() or not action.strip():
        raise IngestdError("give both --root-cause and --action")
    case.corrective_action = {"root_cause": root_cause.strip(), "action": action.strip(),
                              "actor": actor, "at": at.isoformat()}
    record(session, case, "corrective_action", actor=actor, at=at,
                    new=root_cause.strip()[:200], note=action.strip())


def _amount(amount: str | None) -> str | None:
    if amount is None:
        return None
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise IngestdError(f"--amount {amount!r} is not a number") from None
    if value < 0:
        raise IngestdError("--amount must not be negative")
    return str(value)


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
