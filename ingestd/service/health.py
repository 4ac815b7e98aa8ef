"""Folder health and the HTTP endpoint that serves it with the metrics.

`/healthz` answers 503 when any folder has not been reachable for
`daemon.mailbox_unreachable_after` seconds (a folder another instance holds counts as
fine: that instance watches it), 200 otherwise; the JSON body has the status per folder.
`/metrics` is the Prometheus text format.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingestd.errors import ConfigError
from ingestd.service.metrics import Metrics


@dataclass
class FolderStatus:
    state: str  # starting | ok | standby (another instance holds the lease) | down
    last_ok: float  # wall-clock time of the last success (start time until the first)
    error: str | None = None


class Health:
    """What each folder watcher last reported, and whether that is healthy."""

    def __init__(self, unreachable_after: float, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.unreachable_after, self.metrics, self.clock = unreachable_after, metrics, clock
        self._lock = threading.Lock()
        self._folders: dict[str, FolderStatus] = {}

    def _set(self, mailbox: str, folder: str, state: str, error: str | None = None) -> None:
        key, now = f"{mailbox}/{folder}", self.clock()
        with self._lock:
            status = self._folders.setdefault(key, FolderStatus("starting", now))
            status.state, status.error = state, error
            if state in ("ok", "standby"):
                status.last_ok = now
        if self.metrics is not None and state != "starting":
            self.metrics.folder(mailbox, folder, up=state != "down", at=now)

    def starting(self, mailbox: str, folder: str) -> None:
        self._set(mailbox, folder, "starting")

    def ok(self, mailbox: str, folder: str) -> None:
        self._set(mailbox, folder, "ok")

    def standby(self, mailbox: str, folder: str) -> None:
        self._set(mailbox, folder, "standby")

    def down(self, mailbox: str, folder: str, error: str) -> None:
        self._set(mailbox, folder, "down", error)

    def forget(self) -> None:
        """Drop every folder (the configuration was reloaded; watchers register again)."""
        with self._lock:
            self._folders.clear()

    def report(self) -> tuple[bool, dict[str, Any]]:
        now = self.clock()
        with self._lock:
            folders = {key: {**asdict(s), "seconds_since_ok": round(now - s.last_ok, 1),
                             "healthy": now - s.last_ok <= self.unreachable_after}
                       for key, s in self._folders.items()}
        healthy = all(f["healthy"] for f in folders.values())
        return healthy, {"status": "ok" if healthy else "unhealthy", "folders": folders}


def serve(host: str, port: int, metrics: Metrics, health: Health) -> ThreadingHTTPServer:
    """Start the metrics and health server in a background thread; the caller shuts it down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            elif path in ("/healthz", "/health"):
                healthy, body = health.report()
                self._reply(200 if healthy else 503, "application/json",
                            json.dumps(body, indent=1).encode())
            else:
                self._reply(404, "text/plain", b"try /metrics or /healthz\n")

        def _reply(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes every few seconds are not worth a log line."""

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port} ({exc.strerror}); change "
                          "[daemon] metrics_port or stop what uses it") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
