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

from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import structlog

from ingestd.mimelimits import ParseLimits
from ingestd.pool import Preparer
from ingestd.worker import Prepared

log = structlog.get_logger("ingestd.pipeline")

MIN_BATCH = 50  # a batch smaller than this (and not full) is a trickle, prepared inline
CHUNK = 25  # messages per task: small enough that the pipeline starts on the first soon


class Lookahead:
    """The head starts asked for during one run of the pipeline, by raw message id.

    The run holds the pool from here to `forget`, so the pool is not stopped under it.
    """

    def __init__(self, preparer: Preparer, model: Path | None,
                 limits: ParseLimits | None = None, seconds: float = 5.0, *,
                 wait: bool = False) -> None:
        self._holds = preparer if preparer.enabled else None
        self._preparer = self._holds  # None once no worker can help (then all is inline)
        self._model = model
        # With no model in this process (`run --once` leaves it to the workers), a worker
        # still starting is waited for: it loads the model sooner than this process would.
        self.wait = wait and self._holds is not None
        self._limits, self._seconds = limits, seconds
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
                future = self._preparer.submit([raw for _, raw in chunk], self._model,
                                               self._limits, self._seconds)
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
        if not (future.done() or self._preparer is None or self._preparer.warm or self.wait):
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
