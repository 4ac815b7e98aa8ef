"""Serving the desk with uvicorn: in the foreground (`ingestd web`) or beside the daemon in a
thread (`ingestd run` with `[web] enabled = true`).

The listening socket is bound here first, so a port in use is one clear line, not a log."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
import uvicorn

from ingestd.casework import users
from ingestd.config import split_listen
from ingestd.errors import IngestdError
from ingestd.services import Services
from ingestd.web.app import create_app
from storage import reading

log = structlog.get_logger("ingestd.web")


class Listener:
    """The desk's server and the socket it listens on."""

    def __init__(self, services: Services, listen: str | None = None) -> None:
        web = services.settings.web
        try:
            self.host, self.port = split_listen(listen) if listen else web.address()
        except ValueError as exc:
            raise IngestdError(f"--listen: {exc}") from None
        self.socket = _bind(self.host, self.port)
        self.port = self.socket.getsockname()[1]  # port 0: the one the system chose
        config = uvicorn.Config(create_app(services), log_config=None, access_log=False,
                                proxy_headers=True, server_header=False, lifespan="off",
                                forwarded_allow_ips=list(web.trusted_proxies))
        self.server = _Server(config)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        self.server.run(sockets=[self.socket])


class _Server(uvicorn.Server):
    """SIGTERM and SIGINT finish the requests in hand and exit 0, as the daemon does (uvicorn
    itself would raise the signal again once stopped); in a thread, no handlers at all."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise IngestdError(f"the web desk cannot listen on {host}:{port} ({exc.strerror}); "
                           "choose another with --listen HOST:PORT or [web] listen") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(services: Services, listen: str | None = None) -> None:
    """Serve until SIGTERM or SIGINT."""
    desk = Listener(services, listen)
    with reading(services.factory) as session:
        if not users.any_user(session):
            log.warning("no_users", hint="nobody can log in yet; add an admin: ingestd users "
                        "add NAME --email ADDRESS --role admin")
    print(f"web desk at {desk.url}", flush=True)
    log.info("web_started", url=desk.url)
    desk.run()


class Background:
    """The desk in a thread of another process (the daemon's); `stop()` ends it."""

    def __init__(self, services: Services) -> None:
        self.desk = Listener(services)
        self.thread = threading.Thread(target=self.desk.run, name="web", daemon=True)

    def start(self) -> None:
        self.thread.start()
        log.info("web_started", url=self.desk.url)

    def stop(self, grace: float = 5.0) -> None:
        self.desk.server.should_exit = True
        self.thread.join(grace)
