"""`ingestd run`: the long-running service (SPEC: Operations).

Threads, with the database as the only coordination point between them and between
instances: one watcher per mailbox folder (IDLE or polling, under the folder's lease; see
ingestd.service.watch), one per Maildir, the MTA pipe's listener (ingestd.service.pipe),
the outbox sender (woken by the watchers so an acknowledgment leaves seconds after the mail
arrived) and the housekeeper (SLA sweep, retention purge, model file check). The main
thread handles signals and talks to systemd: SIGTERM/SIGINT finish the message in hand, send
what is due, release the leases and exit 0; SIGHUP reloads the configuration and the model.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import fields
from http.server import ThreadingHTTPServer
from types import FrameType

import structlog
from sqlalchemy import Engine

from ingestd import config
from ingestd.config import Settings
from ingestd.errors import IngestdError
from ingestd.intake import release_leases
from ingestd.service.health import Health, serve
from ingestd.service.metrics import Metrics
from ingestd.service.notify import notify, watchdog_interval
from ingestd.service.pipe import PipeListener
from ingestd.service.tasks import Housekeeper, OutboxWorker, housekeeping
from ingestd.service.watch import ImapWatcher, MaildirWatcher, Shared, Turn, Watcher
from ingestd.services import Services, build_services

log = structlog.get_logger("ingestd.daemon")
TICK = 1.0  # seconds: how often the main thread looks at signals and pings the watchdog
STOP_GRACE = 5.0  # seconds the threads get to finish their message on shutdown


class Daemon:
    """The service: start the threads, serve signals and systemd, stop cleanly."""

    def __init__(self, settings: Settings, engine: Engine, config_file: str | None) -> None:
        self.settings, self.engine, self.config_file = settings, engine, config_file
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.wake_outbox = threading.Event()
        self.turn = Turn()  # one thread processes at a time: watchers and the pipe take turns
        self.watchers: list[Watcher] = []
        self._status = ""

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit code (0 after a clean stop)."""
        self.services = build_services(self.settings, self.engine)
        self.services.model.get()  # before READY: the first mail must not wait for the model
        # Before any thread starts, so the workers fork (at once, sharing the model) for the
        # backlog that waited while the daemon was down; none comes, they stop in a minute.
        self.services.preparer.start(self.services.model.path, wait=False)
        self.metrics = Metrics(self.services.factory, self.services.clock)
        self.health = Health(self.settings.daemon.mailbox_unreachable_after, self.metrics)
        self._signals()
        server = self._serve_metrics()
        self.shared = self._start_watchers()
        self.outbox = OutboxWorker(self.services, self.metrics, self.wake_outbox)
        self.outbox.start()
        self.pipe = PipeListener(Shared(self.services, self.metrics, self.health, self.stop,
                                        self.wake_outbox, self.turn), self.engine)
        self.pipe.start()
        self.keeper = Housekeeper(housekeeping(self.services, self.wake_outbox), self.metrics,
                                  self.stop)
        self.keeper.start()
        notify("READY=1", f"STATUS={self._describe()}")
        log.info("started", sources=len(self.watchers),
                 metrics_port=self.settings.daemon.metrics_port)
        try:
            self._serve()
        finally:
            self._shutdown(server)
        return 0

    def _signals(self) -> None:
        # Handlers only set events: logging here could deadlock on the log's write lock.
        def stop(_signum: int, _frame: FrameType | None) -> None:
            self.stop.set()

        def reload(_signum: int, _frame: FrameType | None) -> None:
            self.reload_requested.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def _serve_metrics(self) -> ThreadingHTTPServer | None:
        daemon = self.settings.daemon
        if daemon.metrics_port is None:
            return None
        return serve(daemon.metrics_host, daemon.metrics_port, self.metrics, self.health)

    def _start_watchers(self) -> Shared:
        shared = Shared(self.services, self.metrics, self.health, threading.Event(),
                        self.wake_outbox, self.turn)
        settings = self.services.settings
        self.watchers = [ImapWatcher(shared, box, folder)
                         for box in settings.mailbox for folder in box.folders]
        self.watchers += [MaildirWatcher(shared, maildir) for maildir in settings.maildir]
        for watcher in self.watchers:
            watcher.start()
        return shared

    def _serve(self) -> None:
        watchdog = watchdog_interval() is not None  # pinged every TICK, well within its half
        while not self.stop.wait(TICK):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            if watchdog and self._alive():
                notify("WATCHDOG=1")
            self._update_status()

    def _alive(self) -> bool:
        """True while every thread runs: a dead one stops the watchdog pings on purpose."""
        threads = [*self.watchers, self.outbox, self.keeper, self.pipe]
        return all(t.is_alive() for t in threads)

    def _describe(self) -> str:
        healthy, report = self.health.report()
        states = [f["state"] for f in report["folders"].values()]
        summary = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
        return f"{len(self.watchers)} sources ({summary or 'none'}); " + (
            "healthy" if healthy else "a mailbox is unreachable")

    def _update_status(self) -> None:
        status = self._describe()
        if status != self._status:
            self._status = status
            notify(f"STATUS={status}")

    def reload(self) -> None:
        """SIGHUP: read the configuration again, rebuild what depends on it, reload the model."""
        try:
            settings = config.load(self.config_file)
            fresh = build_services(settings, self.engine, self.services.clock)
        except IngestdError as exc:
            log.error("reload_failed", error=str(exc), kept="the previous configuration")
            return
        if settings.database.url != self.settings.database.url:
            log.warning("reload_database_ignored", reason="a new [database] url needs a restart")
        if settings.triage.model == self.services.model.path:
            fresh.model = self.services.model
        sources_changed = (settings.mailbox, settings.maildir) != (
            self.services.settings.mailbox, self.services.settings.maildir)
        replaced = self.services.preparer
        _replace(self.services, fresh)
        replaced.close("configuration reloaded")  # or they would live on, unused
        self.settings = settings
        self.health.unreachable_after = settings.daemon.mailbox_unreachable_after
        self._reload_model()
        if sources_changed:
            self._restart_watchers()
        log.info("reloaded", config=str(settings.path), sources_changed=sources_changed)

    def _reload_model(self) -> None:
        try:
            changed = self.services.model.reload_if_changed()
        except Exception as exc:  # noqa: BLE001  (a bad model file must not stop the service)
            log.error("model_reload_failed", path=str(self.services.model.path),
                      error=f"{type(exc).__name__}: {exc}")
            return
        if changed:
            log.info("model_loaded", path=str(self.services.model.path))

    def _restart_watchers(self) -> None:
        self._stop_watchers()
        self.health.forget()
        self.shared = self._start_watchers()

    def _stop_watchers(self) -> None:
        self.shared.stop.set()
        deadline = time.monotonic() + STOP_GRACE
        for watcher in self.watchers:
            watcher.join(max(deadline - time.monotonic(), 0.1))
        self._release()

    def _release(self) -> None:
        try:
            release_leases(self.services)
        except Exception as exc:  # noqa: BLE001  (the leases then simply run out)
            log.warning("release_failed", error=f"{type(exc).__name__}: {exc}")

    def _shutdown(self, server: ThreadingHTTPServer | None) -> None:
        log.info("stopping")
        notify("STOPPING=1", "STATUS=stopping: finishing the message in hand")
        self.stop.set()
        self._stop_watchers()
        self.pipe.join(STOP_GRACE)
        self.outbox.finish(STOP_GRACE)
        self.keeper.join(STOP_GRACE)
        if server is not None:
            server.shutdown()
            server.server_close()
        self.services.close()
        self.engine.dispose()
        log.info("stopped")


def _replace(services: Services, fresh: Services) -> None:
    """Swap every collaborator in place: the threads hold the same Services object."""
    for field in fields(Services):
        setattr(services, field.name, getattr(fresh, field.name))
