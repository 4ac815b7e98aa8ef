"""The daemon's ear for the MTA pipe: mail kept by `ingestd deliver` is processed at once.

`deliver` commits a piped raw row and wakes whoever listens: on PostgreSQL a NOTIFY on
`ingestd.spool.CHANNEL` (every instance hears it; the rows are claimed with SKIP LOCKED),
on SQLite a byte in the FIFO beside the database file. The listener then admits the piped
rows (deduplication), processes them and wakes the outbox, as an IMAP watcher does after
IDLE reports new mail. It listens before it looks, so nothing committed in between is
missed; a lost connection is re-made with backoff and followed by the same look. The
daemon's poll_interval is only a safety net, never the path a mail takes.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine

from ingestd.intake import admit_piped
from ingestd.service.watch import Shared, process, reconnect_delay
from ingestd.spool import CHANNEL, wake_path

log = structlog.get_logger("ingestd.pipe")
WAIT_CHECK = 1.0  # seconds per wait: how soon a stop request is seen
Wait = Callable[[float], bool]  # wait up to so many seconds; True when woken


class PipeListener(threading.Thread):
    """Processes piped mail the moment `deliver` commits it."""

    def __init__(self, shared: Shared, engine: Engine) -> None:
        super().__init__(name="pipe", daemon=True)
        self.shared, self.engine = shared, engine

    def run(self) -> None:
        attempt = 0
        while not self.shared.stop.is_set():
            try:
                with wakeups(self.engine) as wait:
                    attempt = 0
                    self.listen(wait)
            except Exception as exc:  # noqa: BLE001  (the database may be down: back off, retry)
                delay = reconnect_delay(attempt)
                attempt += 1
                log.warning("pipe_unavailable", error=f"{type(exc).__name__}: {exc}",
                            retry_in=round(delay, 2))
                self.shared.stop.wait(delay)

    def listen(self, wait: Wait) -> None:
        self.work()  # what was piped while nobody listened
        safety = self.shared.services.settings.daemon.poll_interval
        last = time.monotonic()
        while not self.shared.stop.is_set():
            if wait(WAIT_CHECK) or time.monotonic() - last >= safety:
                self.work()
                last = time.monotonic()

    def work(self) -> None:
        """Admit piped mail and process everything pending (a crash may have left some)."""
        admitted = admit_piped(self.shared.services)
        if admitted.stored or admitted.duplicates:
            self.shared.metrics.fetched("pipe", "", admitted.stored, admitted.duplicates)
        process(self.shared)
        self.shared.wake_outbox.set()


@contextlib.contextmanager
def wakeups(engine: Engine) -> Iterator[Wait]:
    """How this database wakes us: LISTEN, a FIFO, or (other backends) only the timeout."""
    if engine.dialect.name == "postgresql":
        with _listen(engine) as wait:
            yield wait
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with _fifo(wake_path(str(engine.url.database))) as wait:
            yield wait
    else:
        yield _no_wakeup


def _no_wakeup(seconds: float) -> bool:
    time.sleep(seconds)
    return False


@contextlib.contextmanager
def _listen(engine: Engine) -> Iterator[Wait]:
    """A connection of its own (outside the pool) in autocommit, LISTENing on the channel."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    connection: Any = engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
    try:
        connection.autocommit = True
        connection.execute(f"LISTEN {CHANNEL}")
        log.info("pipe_listening", how="notify", channel=CHANNEL)

        def wait(seconds: float) -> bool:
            return any(True for _ in connection.notifies(timeout=seconds, stop_after=1))

        yield wait
    finally:
        connection.close()


@contextlib.contextmanager
def _fifo(path: str) -> Iterator[Wait]:
    """The FIFO beside the SQLite file, opened for reading and writing (no EOF, ever).

    Without one (a read-only directory, a file in its place) piped mail still comes, but
    only at the poll interval: said once, as a warning, at each (re)start of the listener.
    """
    fd = _open_fifo(path)
    if fd is None:
        yield _no_wakeup
        return
    try:
        log.info("pipe_listening", how="fifo", path=path)

        def wait(seconds: float) -> bool:
            ready, _, _ = select.select([fd], [], [], seconds)
            if not ready:
                return False
            with contextlib.suppress(BlockingIOError):
                while os.read(fd, 4096):
                    pass
            return True

        yield wait
    finally:
        os.close(fd)


def _open_fifo(path: str) -> int | None:
    try:
        _make_fifo(path)
        return os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except (OSError, RuntimeError) as exc:
        log.warning("pipe_wakeup_unavailable", path=path, error=str(exc),
                    fallback="poll_interval")
        return None


def _make_fifo(path: str) -> None:
    """Create the FIFO, writable by whoever may write the database (the MTA's user).

    Its mode and group follow the database file's at every start, so a group given write
    access to the database later (agents, the MTA) can wake the daemon too.
    """
    fifo, database = Path(path), Path(path.removesuffix(".wake"))
    with contextlib.suppress(FileExistsError):
        os.mkfifo(fifo, 0o600)
    if not fifo.is_fifo():
        raise RuntimeError(f"{path} is not a FIFO; remove it so `deliver` can wake the daemon")
    if database.exists():
        found = database.stat()
        with contextlib.suppress(PermissionError):  # a group we are not in
            os.chown(fifo, -1, found.st_gid)
        with contextlib.suppress(PermissionError):  # another user's FIFO: leave it as it is
            fifo.chmod(stat.S_IMODE(found.st_mode) & 0o666)
