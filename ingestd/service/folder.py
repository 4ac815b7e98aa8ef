"""Drain one IMAP folder and process what came in, a few messages per transaction.

The daemon's per-folder variant of `ingestd.drain.drain_imap`: the same lease, resync and
commit (raw bytes and the folder's last UID together), but one folder at a time so each
watcher works its own folder, and processing in small batches that stop between messages
when the daemon is asked to stop. Whatever is left stays pending and is processed next time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd.drain import commit_batch, resync, take_lease
from ingestd.pipeline import ProcessStats, Services
from ingestd.pipeline.runner import process_one
from ingestd.service.metrics import Metrics
from ingestd.sources import ImapSource
from storage import RawMessage, transaction
from storage.ops import lock_clause

PROCESS_BATCH = 20  # messages per transaction: short write locks, quick to stop


@dataclass(frozen=True)
class Processed:
    """What happened to one message, for the metrics (counted after the commit)."""

    source: str
    state: str
    outcome: str
    seconds: float


def hold_lease(services: Services, mailbox: str, folder: str) -> bool:
    """Take or renew this instance's lease on the folder; False while another holds it."""
    return take_lease(services, mailbox, folder)


def drain_folder(services: Services, source: ImapSource, folder: str, metrics: Metrics,
                 stop: threading.Event) -> tuple[int, int]:
    """Store every new message of `folder` and process it: (messages stored, last UID)."""
    name = source.config.name
    stored = 0
    last_uid = resync(services, source, folder)
    for batch in source.new_batches(folder, last_uid):
        result = commit_batch(services, name, batch)
        stored, last_uid = stored + result.stored, batch.last_uid
        metrics.fetched(name, folder, result.stored, result.duplicates)
        process(services, metrics, stop)
        hold_lease(services, name, folder)
        if stop.is_set():
            break
    return stored, last_uid


def process(services: Services, metrics: Metrics, stop: threading.Event) -> int:
    """Process pending messages (any instance's) until none are left or stop is set."""
    total = 0
    while not stop.is_set():
        done = _process_batch(services)
        for item in done:
            metrics.processed(item.source, item.state, item.outcome, item.seconds)
        total += len(done)
        if len(done) < PROCESS_BATCH:
            break
    return total


def _process_batch(services: Services) -> list[Processed]:
    done: list[Processed] = []
    with transaction(services.factory) as session:
        rows = session.scalars(
            select(RawMessage).where(RawMessage.state == "pending").order_by(RawMessage.id)
            .limit(PROCESS_BATCH).with_for_update(skip_locked=_skip_locked(session))).all()
        for row in rows:
            started = time.perf_counter()
            process_one(session, services, row, ProcessStats())
            done.append(Processed(row.source, row.state, row.outcome or "",
                                  time.perf_counter() - started))
    return done


def _skip_locked(session: Session) -> bool:
    """Skip rows another instance is processing (PostgreSQL; SQLite locks the whole file)."""
    return lock_clause(session).get("skip_locked", False)
