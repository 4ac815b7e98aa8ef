"""Progress mails to the customer (seeds: "keep the customer informed of the progress and
estimated resolution timeline", "inform customers of estimated resolution timelines and
provide regular updates").

Three kinds, each a template ``update_KIND.txt`` in templates/ and switchable in [updates]:

- ``investigating``: someone works the case now: who has it, and when we expect to resolve it;
- ``resolved``: what was done, and how to reopen the case if it is not solved;
- ``new_date``: queued by the sweep before the date the customer was given passes, with a
  new date (``[updates] notice_hours`` ahead, ``new_date_business_days`` later).

Each is threaded under the customer's latest mail and recorded as an ``update`` event whose
data holds the date promised: the next notice counts from it, so a case that keeps running
late gets a notice per new date, and the acknowledgment's resolve date is the first promise.

At most one update a day per case: a status update that comes sooner is held in the outbox
until a day after the previous one, and a held one that a newer status makes stale (the case
was reopened before "resolved" went out) is withdrawn, so the customer hears the latest state
only. The sweep's notice is not held: it tries again at the next sweep. Robots never get one:
no address, our own or a no-reply address, or a case whose acknowledgment was suppressed as
robot, list or loop mail (a sender over the hourly acknowledgment limit is still a person).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ingestd.casework._read import case_view
from ingestd.casework._record import enqueue, record
from storage import Case, CaseMessage, Event, Outbox, Suppression
from storage.queries import latest_inbound

if TYPE_CHECKING:
    from ingestd.services import Services

UPDATE_KINDS = ("investigating", "resolved", "new_date")
UPDATE_MAIL_KINDS = tuple(f"update_{kind}" for kind in UPDATE_KINDS)
DAY = timedelta(days=1)
_NO_REPLY = re.compile(r"^(?:no-?reply|do-?not-?reply|donotreply|mailer-daemon|postmaster|"
                       r"bounces?)(?:[-+._].*)?@", re.IGNORECASE)
_RATE_LIMIT = "rate limit"  # the acknowledge step's reason for a person over the hourly limit


def status_update(session: Session, services: Services, case: Case, status: str, *,
                  actor: str, at: datetime, resolution: str | None = None) -> str | None:
    """Tell the customer the case moved to `status` (investigating or resolved).

    Returns why no mail was queued, or None when one was (perhaps held: one a day)."""
    if status == "investigating":
        expected = _expected(session, services, case, at)
        context: dict[str, Any] = {"handler": case.assignee or actor,
                                   "expected": _fmt(services, expected)}
        return _queue(session, services, case, "investigating", context, actor=actor, at=at,
                      promised=expected, hold=True)
    if status == "resolved":
        context = {"resolution": (resolution or "").strip(), "recovery": _recovery(case),
                   "reopen_days": services.settings.cases.reopen_window_days}
        return _queue(session, services, case, "resolved", context, actor=actor, at=at,
                      promised=None, hold=True)
    return None


def new_date_notice(session: Session, services: Services, case: Case, *, now: datetime,
                    due: datetime) -> bool:
    """Before the date the customer was given passes, give a new one (the sweep's part)."""
    policy = services.settings.updates
    promised = promised_date(session, case)
    if promised is None or not promised - timedelta(hours=policy.notice_hours) <= now < promised:
        return False
    new = services.calendar.add_business_days(promised, policy.new_date_business_days)
    context = {"old_date": _fmt(services, promised), "new_date": _fmt(services, new)}
    return _queue(session, services, case, "new_date", context, actor="ingestd", at=now,
                  promised=new, hold=False, due=due) is None


def promised_date(session: Session, case: Case) -> datetime | None:
    """The resolution date the customer was given last: an update's, else the resolve due."""
    updates = session.scalars(select(Event.data).where(
        Event.case_id == case.id, Event.kind == "update").order_by(Event.id.desc()))
    for data in updates:
        if data and data.get("promised"):
            return datetime.fromisoformat(data["promised"])
    return case.resolve_due


def notice_window_opens(services: Services, case: Case) -> datetime | None:
    """The earliest time a new-date notice can be due: promises only ever move later."""
    hours = services.settings.updates.notice_hours
    return None if case.resolve_due is None else case.resolve_due - timedelta(hours=hours)


def _queue(session: Session, services: Services, case: Case, kind: str,
           context: dict[str, Any], *, actor: str, at: datetime, promised: datetime | None,
           hold: bool, due: datetime | None = None) -> str | None:
    """Compose and queue update `kind`, or return why not."""
    if not getattr(services.settings.updates, kind):
        return "switched off in [updates]"
    if _robot(session, services, case):
        return "the customer is a robot or a list"
    due = due or at
    after = _last_update(session, case)
    if after is not None and due < after + DAY:
        if not hold:
            return "one update a day"
        due = after + DAY
    latest = latest_inbound(session, case)
    draft = services.composer.compose(
        f"update_{kind}", case.customer_address or "", case.reference or "",
        {**case_view(case, services.calendar.zone), **context},
        in_reply_to=latest.message_id if latest else None)
    enqueue(session, draft, case, at=at, to_customer=True, due=due)
    record(session, case, "update", actor=actor, at=at, new=kind,
           note=None if due == at else f"held until {due.isoformat()}: one update a day",
           data={"promised": promised.isoformat() if promised else None,
                 "message_id": draft.message_id})
    return None


def _robot(session: Session, services: Services, case: Case) -> bool:
    address = (case.customer_address or "").lower()
    if not address or address in services.settings.our_addresses() or _NO_REPLY.match(address):
        return True
    reasons = session.scalars(select(Suppression.reason).where(Suppression.case_id == case.id))
    return any(not reason.startswith(_RATE_LIMIT) for reason in reasons)


def _last_update(session: Session, case: Case) -> datetime | None:
    """When the latest update to this case goes (or went) out."""
    return session.scalar(select(func.max(Outbox.next_attempt_at)).where(
        Outbox.case_id == case.id, Outbox.kind.in_(UPDATE_MAIL_KINDS)))


def withdraw_held(session: Session, case: Case, *, actor: str, at: datetime) -> None:
    """Drop status updates still held back (one a day): the case's new status makes them
    stale, whoever moved it (an agent, or the customer's reply that reopened it)."""
    held = session.execute(select(Outbox.id, Outbox.kind, Outbox.message_id).where(
        Outbox.case_id == case.id, Outbox.kind.in_(UPDATE_MAIL_KINDS), Outbox.state == "pending",
        Outbox.next_attempt_at > at)).all()
    for row_id, kind, message_id in held:
        session.execute(delete(CaseMessage).where(CaseMessage.message_id == message_id))
        session.execute(delete(Outbox).where(Outbox.id == row_id))
        record(session, case, "update_withdrawn", actor=actor, at=at,
               new=kind.removeprefix("update_"), note="stale before it was sent")


def _expected(session: Session, services: Services, case: Case, at: datetime) -> datetime:
    """The date to give: the one promised, or a new one when that has passed."""
    promised = promised_date(session, case)
    if promised is not None and promised > at:
        return promised
    return services.calendar.add_business_days(at, services.settings.updates
                                               .new_date_business_days)


def _recovery(case: Case) -> list[str]:
    """The service-recovery actions recorded, as the customer reads them."""
    actions = (case.recovery or {}).get("actions", [])
    return [f"{a['kind']} of {a['amount']}" if a.get("amount") else str(a["kind"])
            for a in actions]


def _fmt(services: Services, value: datetime) -> str:
    return value.astimezone(services.calendar.zone).strftime("%A %d %B %Y, %H:%M %Z")
