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
from ingestd.sources.delivery import Delivery
from storage import MessageKey, RawMessage
from storage.ops import insert_ignore_many


@dataclass
class StoreResult:
    stored: int = 0
    duplicates: int = 0
    already_seen: int = 0


def store(session: Session, deliveries: Iterable[Delivery], now: datetime,
          watched_since: datetime | None = None) -> StoreResult:
    """Add deliveries as raw messages; the caller commits (with its source state).

    A message counts as received `now`, unless the server says it arrived earlier while
    nobody was watching, after `watched_since` (the last time the folder was read): mail
    that waited for a restart or a mail server outage starts its service-level clocks when
    the customer sent it into the mailbox. Mail dated before that (moved in later, or
    imported with its old date) and mail from a first read count from `now`. A delivery
    time the source vouches for (a Maildir file's) always counts, never later than `now`.

    A batch costs a handful of statements, not several per message: one look-up of the
    locations already stored, one insert of the rows, one of their deduplication keys.
    """
    batch = list(deliveries)
    result, rows, seen = StoreResult(), [], _seen_locations(session, batch)
    for delivery in batch:
        if delivery.uid is not None and _location(delivery) in seen:
            result.already_seen += 1
            continue
        seen.add(_location(delivery))
        rows.append(_raw_row(delivery, _received_at(delivery, now, watched_since)))
    session.add_all(rows)
    session.flush()
    kept = insert_ignore_many(session, MessageKey.__table__,  # type: ignore[arg-type]  # typed FromClause: a Table
                              [{"dedup_key": r.dedup_key, "raw_message_id": r.id} for r in rows],
                              "raw_message_id")
    for row in rows:
        if row.id not in kept:
            _mark_duplicate(session, row, now)
    result.stored, result.duplicates = len(kept), len(rows) - len(kept)
    return result


Location = tuple[str, str, int | None, str | None]


def _location(delivery: Delivery) -> Location:
    return delivery.source, delivery.folder, delivery.uidvalidity, delivery.uid


def _seen_locations(session: Session, deliveries: list[Delivery]) -> set[Location]:
    """The (source, folder, uidvalidity, uid) of these deliveries that are stored already."""
    seen: set[Location] = set()
    places = {_location(d)[:3] for d in deliveries if d.uid is not None}
    for source, folder, uidvalidity in places:
        uids = [d.uid for d in deliveries if _location(d)[:3] == (source, folder, uidvalidity)]
        found = session.scalars(select(RawMessage.uid).where(
            RawMessage.source == source, RawMessage.folder == folder,
            RawMessage.uidvalidity == uidvalidity, RawMessage.uid.in_(uids)))
        seen.update((source, folder, uidvalidity, uid) for uid in found)
    return seen


def _received_at(delivery: Delivery, now: datetime, watched_since: datetime | None) -> datetime:
    arrived = delivery.arrived_at
    if arrived is not None and delivery.arrival_certain:
        return min(arrived, now)  # a clock ahead of ours must not date mail in the future
    if arrived is None or watched_since is None or not watched_since <= arrived <= now:
        return now
    return arrived


def _raw_row(delivery: Delivery, received_at: datetime) -> RawMessage:
    return RawMessage(
        source=delivery.source, folder=delivery.folder, uidvalidity=delivery.uidvalidity,
        uid=delivery.uid, dedup_key=dedup_key(delivery.raw), size=len(delivery.raw),
        message_id=message_id_of(delivery.raw),
        raw=delivery.raw, received_at=received_at, state="pending")


def _mark_duplicate(session: Session, row: RawMessage, now: datetime) -> None:
    """Keep the location (so it is never fetched again) but not a second copy of the bytes."""
    original = session.scalar(
        select(MessageKey.raw_message_id).where(MessageKey.dedup_key == row.dedup_key))
    row.state, row.duplicate_of, row.raw = "duplicate", original, None
    row.outcome, row.processed_at = "duplicate", now
