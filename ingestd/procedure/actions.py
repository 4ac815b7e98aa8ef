"""What agents do to a case: assign, change status, reply, record recovery and corrective action.

Every action is an event with actor, time and note (workflow.record); mail it causes goes
through the outbox. Resolving a case starts the follow-up clock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd import workflow
from ingestd.errors import IngestdError
from ingestd.procedure.deadlines import followup_due
from storage import Case, CaseMessage

if TYPE_CHECKING:
    from ingestd.services import Services

RECOVERY_KINDS = ("apology", "replacement", "refund", "compensation")
PICKED_UP = ("investigating", "resolved", "closed")


def assign(session: Session, case: Case, agent: str, *, actor: str, at: datetime,
           note: str | None = None) -> None:
    """Give the case to `agent`; the first assignment is when the case was picked up."""
    if not agent.strip():
        raise IngestdError("give the agent a name: ingestd cases assign REF AGENT")
    if case.assignee == agent:
        return
    workflow.record(session, case, "assign", actor=actor, at=at, old=case.assignee, new=agent,
                    note=note)
    case.assignee = agent
    if case.assigned_at is None:
        case.assigned_at = at


def change_status(session: Session, services: Services, case: Case, status: str, *,
                  actor: str, at: datetime, note: str | None = None) -> None:
    """Move the case on; resolving it sets when the satisfaction follow-up is due."""
    if status not in workflow.STATUSES:
        raise IngestdError(f"unknown status {status!r}; use one of {', '.join(workflow.STATUSES)}")
    workflow.set_status(session, case, status, actor=actor, at=at, note=note)
    if status == "resolved" and case.followup_sent_at is None:
        case.followup_due = followup_due(at, services.settings.sla, services.calendar)
    elif status == "investigating":
        case.followup_due = None
    if status in PICKED_UP and case.assigned_at is None:
        case.assigned_at = at


def reply(session: Session, services: Services, case: Case, body: str, *, actor: str,
          at: datetime) -> CaseMessage:
    """Send `body` to the customer, threaded under their latest mail, tagged with the reference."""
    if not case.customer_address:
        raise IngestdError(f"{case.reference}: the case has no customer address to reply to")
    if not body.strip():
        raise IngestdError("the reply is empty")
    latest = workflow.latest_inbound(session, case)
    subject = case.subject if case.subject.lower().startswith("re:") else f"Re: {case.subject}"
    draft = services.composer.compose(
        "agent_reply", case.customer_address, case.reference or "",
        {"body": body, "subject": subject.strip()},
        in_reply_to=latest.message_id if latest else None, automatic=False)
    workflow.enqueue(session, draft, case, key=None, at=at, to_customer=True)
    session.flush()
    sent = session.scalars(select(CaseMessage).where(
        CaseMessage.message_id == draft.message_id)).one()
    sent.sender, sent.subject, sent.text = actor, subject, body
    workflow.record(session, case, "reply", actor=actor, at=at, new=case.customer_address,
                    data={"message_id": draft.message_id})
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
    workflow.record(session, case, "recovery", actor=actor, at=at, new=kind, note=note,
                    data={"amount": entry["amount"]})
    return entry


def record_corrective_action(session: Session, case: Case, *, root_cause: str, action: str,
                             actor: str, at: datetime) -> None:
    """Record the root cause found and what was changed so it does not happen again."""
    if not root_cause.strip() or not action.strip():
        raise IngestdError("give both --root-cause and --action")
    case.corrective_action = {"root_cause": root_cause.strip(), "action": action.strip(),
                              "actor": actor, "at": at.isoformat()}
    workflow.record(session, case, "corrective_action", actor=actor, at=at,
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
