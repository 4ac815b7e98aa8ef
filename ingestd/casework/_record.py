"""How every change to a case is written: an event with actor, time and note, and the mail it
causes queued in the outbox in the same transaction, never sent from here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from ingestd.mailout import Draft
from storage import Base, Case, CaseMessage, Event, Outbox
from storage.pending import pending_rows


def record(session: Session, case: Case, kind: str, *, actor: str, at: datetime,
           old: str | None = None, new: str | None = None, note: str | None = None,
           data: dict[str, Any] | None = None) -> None:
    _add(session, case, Event, case_id=case.id, kind=kind, actor=actor, at=at, old=old,
         new=new, note=note, data=data)


def enqueue(session: Session, draft: Draft, case: Case | None, *, key: str | None = None,
            at: datetime, to_customer: bool = False, due: datetime | None = None,
            sender_key: str | None = None, state: str = "pending") -> None:
    """Put a composed mail in the outbox; mail to the customer also threads onto the case.

    It is sent from `due` on (default `at`). A sweep run ahead of the clock (``sla sweep
    --now``) decides as of its `at` but its mail is due at once: it passes the real time.
    `sender_key` is the normalised address of the customer the mail is about (the flood
    caps count by it); `state` "held" keeps a mail over a flood cap for the digest.
    """
    _add(session, case, Outbox, case_id=case.id if case else None, kind=draft.kind,
         recipient=draft.recipient, message_id=draft.message_id, key=key, raw=draft.raw,
         created_at=at, next_attempt_at=due or at, sender_key=sender_key, state=state)
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
