"""The mail of a case as it came: the raw bytes behind a received message (for its HTML
and attachments on the agents' desk)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingestd.errors import NotFound
from storage import Case, RawMessage


def message_raw(session: Session, case: Case, position: int, *,
                max_bytes: int | None = None) -> bytes | None:
    """The raw bytes of the case's `position`-th message (0-based, oldest first): None for
    mail we sent, erased mail, or mail over `max_bytes`."""
    if not 0 <= position < len(case.messages):
        raise NotFound(f"{case.reference} has no message {position}")
    raw_id = case.messages[position].raw_message_id
    if raw_id is None:
        return None
    if max_bytes is not None:
        size = session.scalar(select(func.length(RawMessage.raw)).where(RawMessage.id == raw_id))
        if size is None or size > max_bytes:
            return None
    return session.scalar(select(RawMessage.raw).where(RawMessage.id == raw_id))
