"""An IMAP folder's state: its lease, where reading goes on from, and each batch committed
with the folder's new last UID.

A folder is worked by one instance at a time, under a lease kept in its state row: a dead
instance's lease runs out and another takes over. A changed UIDVALIDITY re-reads the folder
from the start; deduplication makes the second copy of every message a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ingestd.instance import instance, is_gone
from ingestd.intake._store import StoreResult, store
from ingestd.services import Services
from ingestd.sources import ImapSource
from ingestd.sources.imap import FolderBatch
from storage import FolderState, transaction
from storage.ops import insert_ignore

log = structlog.get_logger("ingestd.drain")


def drain_folder(services: Services, source: ImapSource, folder: str,
                 after_batch: Callable[[StoreResult], bool]) -> int:
    """Store the folder's new mail batch by batch; returns the last UID reached.

    `after_batch` runs after each commit (it processes what came in) and returns False to
    stop early; the folder's lease is renewed between batches.
    """
    last_uid, watched_since = resync(services, source, folder)
    for batch in source.new_batches(folder, last_uid):
        result = commit_batch(services, source.config.name, batch, watched_since)
        last_uid = batch.last_uid
        go_on = after_batch(result)
        take_lease(services, source.config.name, folder)
        if not go_on:
            break
    return last_uid


def commit_batch(services: Services, mailbox: str, batch: FolderBatch,
                 watched_since: datetime | None = None) -> StoreResult:
    """Raw bytes and the folder's new last UID in one transaction: never one without the other.

    `watched_since`: when the folder was read before this drain (see `ingest.store`).
    """
    with transaction(services.factory) as session:
        result = store(session, batch.deliveries, services.clock(), watched_since)
        session.execute(update(FolderState).where(
            FolderState.mailbox == mailbox, FolderState.folder == batch.folder).values(
            last_uid=batch.last_uid, uidvalidity=batch.uidvalidity,
            last_success_at=services.clock()))
    log.info("batch_stored", mailbox=mailbox, folder=batch.folder, last_uid=batch.last_uid,
             stored=result.stored, duplicates=result.duplicates, seen=result.already_seen)
    return result


def resync(services: Services, source: ImapSource, folder: str) -> tuple[int, datetime | None]:
    """Where to go on from: the last UID (0 after a UIDVALIDITY change) and the last read.

    The last read is when the folder was read before now, None the first time: mail that
    arrived after it waited for us (`ingest.store`).
    """
    uidvalidity = source.uidvalidity(folder)
    with transaction(services.factory) as session:
        state = _state(session, source.config.name, folder)
        if state.uidvalidity != uidvalidity:
            if state.uidvalidity:
                log.warning("uidvalidity_changed", mailbox=source.config.name, folder=folder,
                            old=state.uidvalidity, new=uidvalidity)
            state.uidvalidity, state.last_uid = uidvalidity, 0
        watched_since, state.last_success_at = state.last_success_at, services.clock()
        return state.last_uid, watched_since


def _state(session: Session, mailbox: str, folder: str) -> FolderState:
    insert_ignore(session, FolderState.__table__,  # type: ignore[arg-type]  # typed FromClause: a Table
                  {"mailbox": mailbox, "folder": folder, "uidvalidity": 0, "last_uid": 0})
    state = session.scalar(select(FolderState).where(
        FolderState.mailbox == mailbox, FolderState.folder == folder))
    assert state is not None  # noqa: S101  (inserted just above)
    return state


def take_lease(services: Services, mailbox: str, folder: str) -> bool:
    """Hold the folder for this instance; False while another live instance holds it."""
    now = services.clock()
    until = now + timedelta(seconds=services.settings.daemon.lease_seconds)
    with transaction(services.factory) as session:
        state = _state(session, mailbox, folder)
        crashed = [state.lease_owner] if is_gone(state.lease_owner) else []
        taken = session.execute(update(FolderState).where(
            FolderState.mailbox == mailbox, FolderState.folder == folder,
            or_(FolderState.lease_owner.is_(None), FolderState.lease_owner == instance(),
                FolderState.lease_owner.in_(crashed), FolderState.lease_until < now))
            .values(lease_owner=instance(), lease_until=until))
        return bool(getattr(taken, "rowcount", 0))


def release_leases(services: Services) -> None:
    with transaction(services.factory) as session:
        session.execute(update(FolderState).where(FolderState.lease_owner == instance())
                        .values(lease_owner=None, lease_until=None))
