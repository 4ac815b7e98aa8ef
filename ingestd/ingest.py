"""Durable intake: raw bytes are committed before a source is told anything.

A source hands over batches of (uid, bytes). Each batch is stored in one transaction that
also records where the source stands, so a crash before the commit re-fetches the batch
and a crash after it skips it. Deduplication happens here, on the delivery location and on
Message-ID plus body digest, so the pipeline only ever sees each distinct mail once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd.message import dedup_key, message_id_of
from storage import MessageKey, RawMessage, utcnow
from storage.ops import insert_ignore


@dataclass(frozen=True)
class Delivery:
    """One mail as a source found it."""

    source: str
    raw: bytes
    folder: str = ""
    uidvalidity: int | None = None
    uid: str | None = None


@dataclass
class StoreResult:
    stored: int = 0
    duplicates: int = 0
    already_seen: int = 0


def store(session: Session, deliveries: Iterable[Delivery], now: datetime) -> StoreResult:
    """Add deliveries as raw messages received `now`; the caller commits (with its source state)."""
    result = StoreResult()
    for delivery in deliveries:
        if _seen_location(session, delivery):
            result.already_seen += 1
            continue
        row = _raw_row(delivery, now)
        session.add(row)
        session.flush()
        if insert_ignore(session, MessageKey.__table__,  # type: ignore[arg-type]
                         {"dedup_key": row.dedup_key, "raw_message_id": row.id}):
            result.stored += 1
        else:
            _mark_duplicate(session, row)
            result.duplicates += 1
    return result


def _seen_location(session: Session, delivery: Delivery) -> bool:
    if delivery.uid is None:
        return False
    found = session.scalar(select(RawMessage.id).where(
        RawMessage.source == delivery.source, RawMessage.folder == delivery.folder,
        RawMessage.uidvalidity == delivery.uidvalidity, RawMessage.uid == delivery.uid))
    return found is not None


def _raw_row(delivery: Delivery, now: datetime) -> RawMessage:
    return RawMessage(
        source=delivery.source, folder=delivery.folder, uidvalidity=delivery.uidvalidity,
        uid=delivery.uid, dedup_key=dedup_key(delivery.raw), size=len(delivery.raw),
        message_id=message_id_of(delivery.raw),
        raw=delivery.raw, received_at=now, state="pending")


def _mark_duplicate(session: Session, row: RawMessage) -> None:
    """Keep the location (so it is never fetched again) but not a second copy of the bytes."""
    original = session.scalar(
        select(MessageKey.raw_message_id).where(MessageKey.dedup_key == row.dedup_key))
    row.state, row.duplicate_of, row.raw = "duplicate", original, None
    row.outcome, row.processed_at = "duplicate", utcnow()
