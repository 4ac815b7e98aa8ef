"""Mail kept by `ingestd deliver` joins the pending mail, deduplicated like every source's.

The pipe stores only the bytes (`ingestd.spool`: it cannot afford the imports that compute
the keys); here each piped row gets its Message-ID and deduplication key, and becomes
pending, or a duplicate of the mail already kept (an MTA retry after a doubtful commit, or
the same mail piped to two addresses).
"""

from __future__ import annotations

from sqlalchemy import select

from ingestd.intake._store import StoreResult, _mark_duplicate
from ingestd.message import dedup_key, message_id_of
from ingestd.services import Services
from ingestd.spool import PIPED
from storage import MessageKey, RawMessage, transaction
from storage.ops import insert_ignore_many

BATCH = 200


def admit_piped(services: Services) -> StoreResult:
    """Make every piped mail pending (or a duplicate); how many of each."""
    result = StoreResult()
    while _admit_batch(services, result) == BATCH:
        continue
    return result


def _admit_batch(services: Services, result: StoreResult) -> int:
    with transaction(services.factory) as session:
        rows = list(session.scalars(
            select(RawMessage).where(RawMessage.state == PIPED).order_by(RawMessage.id)
            .limit(BATCH).with_for_update(skip_locked=True)))
        for row in rows:
            raw = row.raw or b""
            row.dedup_key, row.message_id = dedup_key(raw), message_id_of(raw)
            row.state = "pending"
        session.flush()
        keys = [{"dedup_key": r.dedup_key, "raw_message_id": r.id} for r in rows]
        kept = insert_ignore_many(session, MessageKey.__table__,  # type: ignore[arg-type]  # typed FromClause: a Table
                                  keys, "raw_message_id")
        now = services.clock()
        for row in rows:
            if row.id not in kept:
                _mark_duplicate(session, row, now)
    result.stored += len(kept)
    result.duplicates += len(rows) - len(kept)
    return len(rows)
