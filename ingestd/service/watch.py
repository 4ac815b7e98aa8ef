"""One thread per mailbox folder: wait for new mail (IDLE or polling), drain, repeat.

A watcher holds the folder's lease while it works, so on a shared database exactly one
instance reads each folder; the others stand by and take over when the lease runs out.
Every network wait has a bound: IDLE is checked once a second (so a stop request is seen at
once), left and re-issued before the server's 29-minute limit, and left after a silent
spell so the next SELECT proves the connection alive; a dead or stalled connection raises
(socket timeouts) and the watcher reconnects with exponential backoff and jitter.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from ingestd import intake
from ingestd.config import MailboxConfig, MaildirConfig
from ingestd.intake import DrainReport, StoreResult, store_maildir
from ingestd.pipeline import Processed, process_pending
from ingestd.service.health import Health
from ingestd.service.metrics import Metrics
from ingestd.services import Services
from ingestd.sources import ImapSource, MaildirSource

log = structlog.get_logger("ingestd.watch")
IDLE_CHECK = 1.0  # seconds per idle_check: how soon a stop request or a lease renewal is seen
SILENCE_CHECK = 120.0  # leave IDLE after this long without a word from the server
STANDBY_RETRY = 5.0  # how often a standby instance asks for the lease again
BACKOFF_BASE, BACKOFF_MAX = 0.5, 60.0
PROCESS_BATCH = 20  # messages per transaction: short write locks, quick to stop


def reconnect_delay(attempt: int) -> float:
    """Exponential backoff with jitter, so a fleet does not reconnect in lockstep."""
    delay: float = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** min(attempt, 16))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311  (jitter, not cryptography)


class Turn:
    """One thread of the daemon processes pending mail at a time (two would each hold a big
    mail's parse in memory); one that asks while another is at it has that one look again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._again = threading.Event()

    def take(self, work: Callable[[], object]) -> None:
        self._again.set()
        while self._again.is_set():
            if not self._lock.acquire(blocking=False):
                return  # the thread at it now sees `_again` and looks once more
            try:
                self._again.clear()
                work()
            finally:
                self._lock.release()


@dataclass
class Shared:
    """What every watcher of one daemon shares."""

    services: Services
    metrics: Metrics
    health: Health
    stop: threading.Event  # set to stop the watchers (shutdown or configuration reload)
    wake_outbox: threading.Event  # set after new mail was processed: acknowledge now
    turn: Turn = field(default_factory=Turn)  # the daemon's watchers and pipe share one


class Watcher(threading.Thread):
    """Runs `cycle()` until stopped; any failure is logged, backed off and retried."""

    def __init__(self, shared: Shared, mailbox: str, folder: str) -> None:
        super().__init__(name=f"watch-{mailbox}/{folder}", daemon=True)
        self.shared, self.mailbox, self.folder = shared, mailbox, folder
        self.attempt = 0

    def run(self) -> None:
        self.shared.health.starting(self.mailbox, self.folder)
        while not self.shared.stop.is_set():
            try:
                self.cycle()
            except Exception as exc:  # noqa: BLE001  (a watcher never dies: it backs off)
                self.failed(exc)

    def cycle(self) -> None:
        raise NotImplementedError

    def failed(self, exc: Exception) -> None:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.shared.health.down(self.mailbox, self.folder, error)
        delay = reconnect_delay(self.attempt)
        self.attempt += 1
        log.warning("source_unavailable", mailbox=self.mailbox, folder=self.folder,
                    error=error, error_type=type(exc).__name__, retry_in=round(delay, 2))
        self.shared.stop.wait(delay)

    def drained(self, stored: int) -> None:
        self.attempt = 0
        self.shared.health.ok(self.mailbox, self.folder)
        if stored:
            self.shared.wake_outbox.set()


class ImapWatcher(Watcher):
    """Watches one IMAP folder under its lease."""

    def __init__(self, shared: Shared, config: MailboxConfig, folder: str,
                 source_factory: Callable[[MailboxConfig], ImapSource] = ImapSource) -> None:
        super().__init__(shared, config.name, folder)
        self.config, self.source_factory = config, source_factory
        self._lease_at = 0.0
        self._uidnext: object = None

    def cycle(self) -> None:
        if not self._lease():
            self.shared.health.standby(self.mailbox, self.folder)
            self.shared.stop.wait(STANDBY_RETRY)
            return
        source = self.source_factory(self.config)
        try:
            self._watch(source)
        finally:
            source.close()

    def _watch(self, source: ImapSource) -> None:
        stop = self.shared.stop
        idle = self.config.idle and source.supports_idle()
        log.info("watching", mailbox=self.mailbox, folder=self.folder, idle=idle)
        while not stop.is_set() and self._lease():
            stored, last_uid = self._drain(source)
            self.drained(stored)
            if stop.is_set():
                return
            if idle:
                self._idle(source, last_uid)
            else:
                self._poll_wait()

    def _drain(self, source: ImapSource) -> tuple[int, int]:
        """Store every new message of the folder and process it: (messages stored, last UID).

        Processing goes in small batches that stop between messages when the daemon is
        asked to stop; whatever is left stays pending and is processed next time.
        """
        stored = 0

        def after_batch(result: StoreResult) -> bool:
            nonlocal stored
            stored += result.stored
            self.shared.metrics.fetched(self.mailbox, self.folder, result.stored,
                                        result.duplicates)
            process(self.shared)
            return not self.shared.stop.is_set()

        last_uid = intake.drain_folder(self.shared.services, source, self.folder, after_batch)
        return stored, last_uid

    def _lease(self) -> bool:
        self._lease_at = time.monotonic()
        return intake.take_lease(self.shared.services, self.mailbox, self.folder)

    def _lease_due(self) -> bool:
        renew_every = self.shared.services.settings.daemon.lease_seconds / 3
        return time.monotonic() - self._lease_at >= renew_every

    def _idle(self, source: ImapSource, last_uid: int) -> None:
        """IDLE until the server reports new mail, the time limit, a silence or a stop."""
        client = source.connect()
        uidnext = client.select_folder(self.folder, readonly=True).get(b"UIDNEXT")
        if uidnext is not None and int(uidnext) > last_uid + 1 and uidnext != self._uidnext:
            self._uidnext = uidnext  # once per value: a gap of expunged UIDs must not spin
            return  # mail came after the drain's SEARCH: IDLE would not report it
        limit = min(self.shared.services.settings.daemon.idle_timeout, SILENCE_CHECK)
        client.idle()
        started = heard = time.monotonic()
        while not self.shared.stop.is_set():
            responses = client.idle_check(timeout=IDLE_CHECK)
            now = time.monotonic()
            if responses:
                heard = now
                self.shared.health.ok(self.mailbox, self.folder)
            if any(r[0] == b"BYE" for r in responses):
                raise ConnectionAbortedError("the server closed the connection (BYE)")
            if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                break
            if now - started >= self.shared.services.settings.daemon.idle_timeout:
                break
            if now - heard >= limit or (self._lease_due() and not self._lease()):
                break
        client.idle_done()

    def _poll_wait(self) -> None:
        """Wait poll_interval (renewing the lease) before the next drain."""
        deadline = time.monotonic() + self.shared.services.settings.daemon.poll_interval
        while not self.shared.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self.shared.stop.wait(min(left, IDLE_CHECK))
            if self._lease_due() and not self._lease():
                return


class MaildirWatcher(Watcher):
    """Polls a Maildir directory every poll_interval (a local source needs no lease)."""

    def __init__(self, shared: Shared, config: MaildirConfig) -> None:
        super().__init__(shared, config.name, "")
        self.config = config

    def cycle(self) -> None:
        report = DrainReport()
        store_maildir(self.shared.services, MaildirSource(self.config), report)
        self.shared.metrics.fetched(self.mailbox, "", report.stored, report.duplicates)
        process(self.shared)
        self.drained(report.stored)
        self.shared.stop.wait(self.shared.services.settings.daemon.poll_interval)


def process(shared: Shared) -> None:
    """Process pending messages (any instance's) until none are left or stop is set."""
    def counted(done: Processed) -> None:
        shared.metrics.processed(done.row.source, done.state, done.outcome, done.seconds)

    shared.turn.take(lambda: process_pending(shared.services, batch_size=PROCESS_BATCH,
                                             stop=shared.stop.is_set, on_done=counted))
