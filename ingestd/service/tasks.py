"""Work beside the folder watchers: the outbox sender and periodic housekeeping.

The outbox thread sends as soon as a watcher reports new mail (so the acknowledgment goes
out within seconds) and every few seconds otherwise, for retries that fell due. The
housekeeper runs the SLA sweep, the daily retention purge, the model-file check and the
stop of parse workers left idle after a backlog, each on its own interval. On a shared
database both are safe to run in every instance: the sender and the sweep claim their rows
with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from ingestd.casework import build_sender
from ingestd.privacy import purge_expired
from ingestd.procedure.sweep import sweep as run_sweep
from ingestd.service.metrics import Metrics
from ingestd.services import Services

log = structlog.get_logger("ingestd.tasks")
OUTBOX_INTERVAL = 2.0  # seconds between looks for retries that fell due
MODEL_CHECK = 30.0  # seconds between checks of the model file (SIGHUP reloads at once)
WORKERS_CHECK = 15.0  # seconds between looks for parse workers left idle after a backlog
PURGE_INTERVAL = 24 * 3600.0


class OutboxWorker(threading.Thread):
    """Delivers the outbox on wake-up or every OUTBOX_INTERVAL; sends once more on stop."""

    def __init__(self, services: Services, metrics: Metrics, wake: threading.Event) -> None:
        super().__init__(name="outbox", daemon=True)
        self.services, self.metrics, self.wake = services, metrics, wake
        self.stop = threading.Event()

    def run(self) -> None:
        while True:
            self.wake.wait(OUTBOX_INTERVAL)
            self.wake.clear()
            self.deliver()
            if self.stop.is_set():
                return

    def deliver(self) -> None:
        try:
            stats = build_sender(self.services).deliver_pending()
        except Exception as exc:  # noqa: BLE001  (the database may be down: try again later)
            log.warning("outbox_failed", error=f"{type(exc).__name__}: {exc}")
            self.metrics.task("outbox", ok=False)
            return
        self.metrics.sent(stats)

    def finish(self, timeout: float) -> None:
        """Send what is pending one last time, waiting at most `timeout` seconds."""
        self.stop.set()
        self.wake.set()
        self.join(timeout)


@dataclass
class Periodic:
    name: str
    interval: Callable[[], float]
    action: Callable[[], object]
    next_at: float = 0.0


class Housekeeper(threading.Thread):
    """Runs each periodic task when due; one failing task never stops the others."""

    def __init__(self, tasks: list[Periodic], metrics: Metrics, stop: threading.Event) -> None:
        super().__init__(name="housekeeping", daemon=True)
        self.tasks, self.metrics, self.stop = tasks, metrics, stop

    def run(self) -> None:
        while not self.stop.is_set():
            for task in self.tasks:
                if time.monotonic() >= task.next_at and not self.stop.is_set():
                    self._run(task)
                    task.next_at = time.monotonic() + task.interval()
            self.stop.wait(1.0)

    def _run(self, task: Periodic) -> None:
        try:
            task.action()
        except Exception as exc:  # noqa: BLE001  (logged and retried at the next interval)
            log.error("task_failed", task=task.name, error=f"{type(exc).__name__}: {exc}")
            self.metrics.task(task.name, ok=False)
        else:
            self.metrics.task(task.name, ok=True)


def housekeeping(services: Services, wake_outbox: threading.Event) -> list[Periodic]:
    """The SLA sweep, the retention purge, the model check and the idle-worker stop."""
    def sweep() -> None:
        report = run_sweep(services, services.clock())
        if report.escalations or report.followups or report.updates:
            wake_outbox.set()

    def purge() -> None:
        report = purge_expired(services, services.clock())
        if report.cases:
            log.info("purged", cases=report.cases, raw_messages=report.raw_messages)

    def model() -> None:
        if services.model.reload_if_changed():
            log.info("model_loaded", path=str(services.model.path))

    def workers() -> None:
        services.preparer.close_if_idle()  # the preparer in service now: SIGHUP replaces it

    return [Periodic("sweep", lambda: services.settings.daemon.sweep_interval, sweep),
            Periodic("purge", lambda: PURGE_INTERVAL, purge),
            Periodic("model", lambda: MODEL_CHECK, model),
            Periodic("workers", lambda: WORKERS_CHECK, workers)]
