"""The daemon's view of draining one IMAP folder: the shared drain, plus metrics and stop.

Each watcher works its own folder with `ingestd.drain.drain_folder` (the same lease, resync
and commit as `run --once`), and processes in small batches that stop between messages when
the daemon is asked to stop. Whatever is left stays pending and is processed next time.
"""

from __future__ import annotations

import threading

from ingestd import drain
from ingestd.ingest import StoreResult
from ingestd.pipeline import Processed, process_pending
from ingestd.service.metrics import Metrics
from ingestd.services import Services
from ingestd.sources import ImapSource

PROCESS_BATCH = 20  # messages per transaction: short write locks, quick to stop


def hold_lease(services: Services, mailbox: str, folder: str) -> bool:
    """Take or renew this instance's lease on the folder; False while another holds it."""
    return drain.take_lease(services, mailbox, folder)


def drain_folder(services: Services, source: ImapSource, folder: str, metrics: Metrics,
                 stop: threading.Event) -> tuple[int, int]:
    """Store every new message of `folder` and process it: (messages stored, last UID)."""
    stored = 0

    def after_batch(result: StoreResult) -> bool:
        nonlocal stored
        stored += result.stored
        metrics.fetched(source.config.name, folder, result.stored, result.duplicates)
        process(services, metrics, stop)
        return not stop.is_set()

    last_uid = drain.drain_folder(services, source, folder, after_batch)
    return stored, last_uid


def process(services: Services, metrics: Metrics, stop: threading.Event) -> None:
    """Process pending messages (any instance's) until none are left or stop is set."""
    def counted(done: Processed) -> None:
        metrics.processed(done.row.source, done.state, done.outcome, done.seconds)

    process_pending(services, batch_size=PROCESS_BATCH, stop=stop.is_set, on_done=counted)
