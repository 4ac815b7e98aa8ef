"""Drain every source once (``run --once``), or take one mail from standard input (an MTA
pipe): store the raw bytes durably, then hand them to the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ingestd.casework import build_sender
from ingestd.errors import IngestdError, StorageError
from ingestd.intake._folders import drain_folder, take_lease
from ingestd.intake._piped import admit_piped
from ingestd.intake._store import StoreResult, store
from ingestd.mailout.sender import database_errors
from ingestd.pipeline import Processed, ProcessStats, process_pending
from ingestd.services import Services
from ingestd.sources import ImapSource, MaildirSource
from ingestd.sources.delivery import Delivery
from storage import RawMessage, transaction

log = structlog.get_logger("ingestd.drain")


@dataclass
class DrainReport:
    stored: int = 0
    duplicates: int = 0
    processed: ProcessStats = field(default_factory=ProcessStats)
    errors: list[IngestdError] = field(default_factory=list)
    on_done: Callable[[Processed], None] | None = None  # each message processed (a progress bar)
    after_batch: Callable[[], None] | None = None  # each batch committed (run --once sends)

    def add(self, result: StoreResult) -> None:
        self.stored += result.stored
        self.duplicates += result.duplicates


def drain_imap(services: Services, source: ImapSource, report: DrainReport) -> None:
    """Fetch every folder of one mailbox; process after each committed batch."""
    def process(result: StoreResult) -> bool:
        report.add(result)
        if services.model.loaded or not services.preparer.starting:
            process_pending(services, stats=report.processed, on_done=report.on_done,
                            after_batch=report.after_batch)
        # else the workers are still loading the model: fetch on, processed once they can
        return True

    for folder in source.config.folders:
        if not take_lease(services, source.config.name, folder):
            log.info("folder_busy", mailbox=source.config.name, folder=folder)
            continue
        drain_folder(services, source, folder, process)


COMMIT_BYTES = 32 << 20  # of mail read before it is committed: big mails are not all held


def drain_maildir(services: Services, source: MaildirSource, report: DrainReport) -> None:
    """Store what is new in the Maildir, then process everything pending."""
    store_maildir(services, source, report)
    process_pending(services, stats=report.processed, on_done=report.on_done,
                    after_batch=report.after_batch)


def store_maildir(services: Services, source: MaildirSource, report: DrainReport) -> None:
    """Store what is new in the Maildir, committed in batches (the daemon's watcher then
    processes it in its turn)."""
    with services.factory() as session:
        known = set(session.scalars(select(RawMessage.uid).where(
            RawMessage.source == source.config.name)))
    batch: list[Delivery] = []
    for delivery in source.deliveries({k for k in known if k}):
        batch.append(delivery)
        if len(batch) >= 200 or sum(len(d.raw) for d in batch) >= COMMIT_BYTES:
            report.add(_commit(services, batch))
            batch = []
    report.add(_commit(services, batch))


def _commit(services: Services, deliveries: list[Delivery]) -> StoreResult:
    with transaction(services.factory) as session:
        return store(session, deliveries, services.clock())


def drain_all(services: Services, report: DrainReport | None = None) -> DrainReport:
    """Drain every configured source once; a failing source is reported, the rest go on."""
    with database_errors():  # a lost database ends the run with one clear line
        return _drain_all(services, report or DrainReport())


def _drain_all(services: Services, report: DrainReport) -> DrainReport:
    settings = services.settings
    report.add(admit_piped(services))  # what `deliver` kept while no daemon ran
    for mailbox in settings.mailbox:
        source = ImapSource(mailbox)
        try:
            drain_imap(services, source, report)
        except IngestdError as exc:
            _source_failed(report, exc, mailbox.name)
        finally:
            source.close()
    for maildir in settings.maildir:
        try:
            drain_maildir(services, MaildirSource(maildir), report)
        except IngestdError as exc:
            _source_failed(report, exc, maildir.name)
    process_pending(services, stats=report.processed, on_done=report.on_done,
                    after_batch=report.after_batch)
    return report


def _source_failed(report: DrainReport, exc: IngestdError, name: str) -> None:
    log.error("source_failed", source=name, error=str(exc))
    report.errors.append(exc)


def store_and_process(services: Services, source: str, raw: bytes) -> str:
    """One message from standard input: durable first, then processed and acknowledged."""
    try:
        result = _commit(services, [Delivery(source=source, raw=raw)])
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot store the message: {type(exc).__name__}") from None
    admit_piped(services)  # and what a plain `deliver` kept before, if no daemon took it
    stats = process_pending(services)
    build_sender(services).deliver_pending()
    return "duplicate" if result.duplicates else ", ".join(stats.outcomes) or "stored"
