"""Parse and score a backlog in worker processes, ahead of the database work.

Parsing a mail and scoring it with the triage model (the text rules go with the scores)
need nothing from the database, and they are about a third of the work per message.
During a backlog the runner hands each batch, and a peek at the next one, to a process
pool, so a second core parses and scores while this process threads, stores and composes.
A backlog is a batch of `MIN_BATCH` messages or a full one (the daemon's batches are
smaller); a trickle of mail is done inline: a worker's round trip would only add latency.

What a worker sends back is only a head start. A mail that failed to parse there is
parsed again by the pipeline's own step, so its error is reported and quarantined as
ever; scores made with another model file than the one in service are ignored.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

import structlog

from ingestd.worker import Prepared, attach_to_parent, prepare_chunk, warm

log = structlog.get_logger("ingestd.pipeline")

MIN_BATCH = 50  # a batch smaller than this (and not full) is a trickle, prepared inline
CHUNK = 25  # messages per task: small enough that the pipeline starts on the first soon
IDLE_AFTER = 60.0  # seconds without a backlog after which the workers are stopped


def default_workers() -> int:
    """One worker per core beyond the first (the first runs the pipeline itself)."""
    return max(1, (os.cpu_count() or 1) - 1)


class Preparer:
    """The process pool: started by a backlog, stopped when none came for a while.

    A worker holds its own copy of the model (about 200 MB), so between backlogs the
    daemon gives that memory back (`close_if_idle`); the next backlog starts the workers
    again, and the steps parse and score inline while they start.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.submitted = 0  # messages handed to the workers, for the record
        self._pool: ProcessPoolExecutor | None = None
        self._warming: list[Future[bool]] = []
        self._lock = threading.Lock()  # several folder watchers share one pool
        self._users = 0  # runs of the pipeline using the pool now
        self._last_used = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.workers > 0

    @property
    def warm(self) -> bool:
        """True once the workers have started and loaded the model (a few seconds)."""
        return self._pool is not None and all(future.done() for future in self._warming)

    def start(self, model: Path | None = None, *, wait: bool = True) -> None:
        """Start the workers and load `model` in each; `wait` for them to be ready."""
        if not self.enabled:
            return
        with self._lock:
            self._start(model)
        if wait:
            for future in self._warming:
                future.result()

    def _start(self, model: Path | None) -> ProcessPoolExecutor:
        if self._pool is None:
            method = start_method()
            self._pool = ProcessPoolExecutor(self.workers, initializer=attach_to_parent,
                                             mp_context=multiprocessing.get_context(method))
            log.info("workers_started", workers=self.workers, start=method)
            if model is not None:
                with _frozen(method == "fork"):  # the first submit forks the workers
                    self._warming = [self._pool.submit(warm, str(model), _stamp(model))
                                     for _ in range(self.workers)]
        return self._pool

    def submit(self, raws: list[bytes], model: Path | None) -> Future[list[Prepared]]:
        stamp = _stamp(model) if model is not None else None
        with self._lock:
            pool = self._start(model)
            self.submitted += len(raws)
            self._last_used = time.monotonic()
            return pool.submit(prepare_chunk, raws, str(model) if model else None, stamp)

    def using(self, delta: int) -> None:
        """A run of the pipeline starts (+1) or ends (-1) using the pool."""
        with self._lock:
            self._users += delta
            self._last_used = time.monotonic()

    def close_if_idle(self, idle_after: float = IDLE_AFTER) -> bool:
        """Stop the workers when no run used them for `idle_after` seconds; True if stopped."""
        with self._lock:
            if self._users or time.monotonic() - self._last_used < idle_after:
                return False
            pool = self._detach()
        _stop(pool, f"no backlog for {idle_after:.0f} s")
        return pool is not None

    def close(self, reason: str = "closed") -> None:
        """Stop the workers; the next backlog starts new ones."""
        with self._lock:
            pool = self._detach()
        _stop(pool, reason)

    def _detach(self) -> ProcessPoolExecutor | None:
        pool, self._pool, self._warming = self._pool, None, []
        return pool


def start_method() -> str:
    """fork when this process runs no other thread, spawn when it does.

    A forked worker starts at once with this process's modules and its loaded model
    (`ingestd.worker.share`), their memory shared until written: `run --once` takes this
    way, and the daemon as it starts, before its threads. Once threads run (IDLE watchers,
    the health endpoint), a lock one of them held at the moment of a fork would stay held
    in the child forever, so a later pool spawns: a fresh interpreter that imports the
    parser and loads the model itself, about two seconds on an idle core. The child never
    uses the database connections it inherits, and ends with os._exit, which closes none.
    """
    if threading.active_count() == 1 and sys.platform == "linux":  # (macOS: spawn, as Python's)
        return "fork"
    return "spawn"


@contextmanager
def _frozen(fork: bool) -> Iterator[None]:
    """Across a fork: a forked child never collects the objects it inherits.

    A garbage cycle waiting for this process's collector at the fork (one holding a
    database connection, say) would otherwise be finalized in the child too, where closing
    the connection tells the server this process's session has ended. This process
    collects as before afterwards.
    """
    if fork:
        gc.freeze()
    try:
        yield
    finally:
        if fork:
            gc.unfreeze()


def _stop(pool: ProcessPoolExecutor | None, reason: str) -> None:
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
        log.info("workers_stopped", reason=reason)


class Lookahead:
    """The head starts asked for during one run of the pipeline, by raw message id.

    The run holds the pool from here to `forget`, so the pool is not stopped under it.
    """

    def __init__(self, preparer: Preparer, model: Path | None) -> None:
        self._holds = preparer if preparer.enabled else None
        self._preparer = self._holds  # None once no worker can help (then all is inline)
        self._model = model
        self._pending: dict[int, tuple[Future[list[Prepared]], int]] = {}
        self._lost: set[Future[list[Prepared]]] = set()  # chunks a worker failed, told once
        if self._holds is not None:
            self._holds.using(+1)

    def submit(self, rows: Iterable[tuple[int, bytes | None]]) -> None:
        """Start preparing these messages, unless they are asked for already."""
        if self._preparer is None:
            return
        todo = [(row_id, raw) for row_id, raw in rows if row_id not in self._pending and raw]
        for chunk in _chunks(todo, CHUNK):
            try:
                future = self._preparer.submit([raw for _, raw in chunk], self._model)
            except (BrokenProcessPool, RuntimeError, OSError) as exc:
                # No worker (it died, or none can start): the steps do it all, as for a trickle.
                log.warning("prepare_unavailable", error=f"{type(exc).__name__}: {exc}")
                self._preparer.close("a worker died or none could start")
                self._preparer = None
                return
            for index, (row_id, _) in enumerate(chunk):
                self._pending[row_id] = (future, index)

    def take(self, row_id: int) -> Prepared | None:
        """The head start for this message, waiting for it if needed; None when there is none.

        While the workers are still starting (spawning and loading the model take seconds),
        a head start not ready yet is not waited for: the steps parse and score inline.
        """
        entry = self._pending.pop(row_id, None)
        if entry is None:
            return None
        future, index = entry
        if not (future.done() or self._preparer is None or self._preparer.warm):
            # The workers are still starting: the steps do it, without waiting, and a chunk
            # still queued is withdrawn so that the workers, once up, start on fresh work.
            future.cancel()
            return None
        try:
            return future.result()[index]
        except CancelledError:
            return None  # withdrawn above, for an earlier message of the same chunk
        except Exception as exc:  # noqa: BLE001  (a lost worker costs only the head start)
            if future not in self._lost:  # one line per lost chunk, not one per message
                self._lost.add(future)
                log.warning("prepare_failed", first_raw_id=row_id, inline="the chunk's messages",
                            error=f"{type(exc).__name__}: {exc}")
            return None

    def forget(self) -> None:
        """Drop head starts nobody took (another instance claimed those messages)."""
        for future, _ in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._holds is not None:
            self._holds.using(-1)
            self._holds = None


def _chunks(items: list[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _stamp(model: Path) -> float | None:
    try:
        return model.stat().st_mtime
    except OSError:
        return None
