"""The process pool that parses and scores a backlog ahead of the database work.

A worker holds its own copy of the model, so the pool starts with a backlog and stops when
none came for a while. What runs in a worker is ``ingestd.worker``; what the pipeline asks of
the pool, and how it uses the answers, is ``ingestd.pipeline.prepare``.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import structlog

from ingestd.mimelimits import ParseLimits
from ingestd.worker import ModelKey, Prepared, attach_to_parent, prepare_chunk, warm

log = structlog.get_logger("ingestd.pipeline")

IDLE_AFTER = 60.0  # seconds without a backlog after which the workers are stopped


def default_workers() -> int:
    """One worker per core beyond the first (the first runs the pipeline itself)."""
    return max(1, (os.cpu_count() or 1) - 1)


def build_preparer(workers: int | None, review_threshold: float) -> Preparer:
    """The pool `[daemon] workers` asks for (None: `default_workers`), not started yet."""
    return Preparer(default_workers() if workers is None else workers, review_threshold)


class Preparer:
    """The process pool: started by a backlog, stopped when none came for a while.

    A worker holds its own copy of the model (about 200 MB), so between backlogs the
    daemon gives that memory back (`close_if_idle`); the next backlog starts the workers
    again, and the steps parse and score inline while they start.
    """

    def __init__(self, workers: int, review_threshold: float = 0.5) -> None:
        self.workers = workers
        self.review_threshold = review_threshold  # the model's, as the pipeline loads it
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

    @property
    def started(self) -> bool:
        """True once the workers are started (they may still be loading the model)."""
        return self._pool is not None

    @property
    def starting(self) -> bool:
        """True while the workers are starting and loading the model."""
        return self._pool is not None and not self.warm

    def model_failed(self) -> bool:
        """True when a worker could not load the model (missing, unsafe): the pipeline's
        own load then says why."""
        return any(future.done() and not future.cancelled() and future.exception() is None
                   and not future.result() for future in self._warming)

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
                    self._warming = [self._pool.submit(warm, self._key(model))
                                     for _ in range(self.workers)]
        return self._pool

    def _key(self, model: Path) -> ModelKey:
        return str(model), stamp_of(model), self.review_threshold

    def submit(self, raws: list[bytes], model: Path | None, limits: ParseLimits | None = None,
               seconds: float = 5.0) -> Future[list[Prepared]]:
        with self._lock:
            pool = self._start(model)
            self.submitted += len(raws)
            self._last_used = time.monotonic()
            return pool.submit(prepare_chunk, raws, self._key(model) if model else None,
                               limits, seconds)

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


def stamp_of(model: Path) -> float | None:
    try:
        return model.stat().st_mtime
    except OSError:
        return None
