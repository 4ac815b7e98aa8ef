"""What a parse worker process runs: parse and score mail, nothing more.

The other side of `ingestd.pipeline.prepare`. A worker is a fork of a process that runs
no other thread (`run --once`, the daemon as it starts), which starts with that process's
model (`share`), or else a fresh (spawned) interpreter that imports this module to run
these functions, so it imports only what they need: the mail parser, and scikit-learn when
the model loads. Not the pipeline, the database layer or the configuration, which would
add about a second to every spawned worker's start.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingestd.budget import budget
from ingestd.headers import header_start
from ingestd.message import ParsedMessage, parse_bytes
from ingestd.mimelimits import ParseLimits, triage_view

if TYPE_CHECKING:
    from triage import Classifier
    from triage.model import Scores


def parse_raw(raw: bytes, limits: ParseLimits | None = None) -> ParsedMessage:
    """Parse stored bytes; refuse what has no header block (after an mbox line or banner)."""
    if header_start(raw) is None:
        raise ValueError("not an RFC 5322 message: it does not start with a header field")
    return parse_bytes(raw, limits)


@dataclass(frozen=True)
class Prepared:
    """A head start on one message: parsed, and scored by the model `stamp`.

    `error` is why it could not be parsed (over its time budget, say): the parse step
    raises it, so the message is quarantined without being read a second time.
    """

    parsed: ParsedMessage | None
    scores: Scores | None = None
    stamp: float | None = None
    error: Exception | None = None
    seconds: float = 0.0  # to parse it (and score it, when scores came with it)
    cpu: float = 0.0  # processor seconds of that


def prepare(raws: list[bytes], model: Classifier | None, stamp: float | None,
            limits: ParseLimits, seconds: float) -> list[Prepared]:
    """Parse each mail within its time budget, then score those parsed, in one go."""
    parsed: list[Prepared] = []
    for raw in raws:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            with budget(seconds):  # (it may raise as the block ends: append after it)
                message = parse_raw(raw, limits)
        except Exception as exc:  # noqa: BLE001  (the parse step raises it: quarantined)
            parsed.append(Prepared(None, error=exc, seconds=time.perf_counter() - started,
                                   cpu=time.thread_time() - cpu))
        else:
            parsed.append(Prepared(message, seconds=time.perf_counter() - started,
                                   cpu=time.thread_time() - cpu))
    if model is None:
        return parsed
    ok = [p.parsed for p in parsed if p.parsed is not None]
    started, cpu = time.perf_counter(), time.thread_time()
    scores = iter(model.score_many(triage_view(p.subject, p.reply_text, limits) for p in ok))
    each = (time.perf_counter() - started) / max(len(ok), 1)
    each_cpu = (time.thread_time() - cpu) / max(len(ok), 1)
    return [Prepared(p.parsed, next(scores), stamp, seconds=p.seconds + each,
                     cpu=p.cpu + each_cpu) if p.parsed is not None else p for p in parsed]


_models: dict[tuple[str, float | None], Classifier] = {}


def _load(path: str, stamp: float | None) -> Classifier | None:
    """The model file as of `stamp`, loaded once per worker; None when it is unusable."""
    key = (path, stamp)
    if key not in _models:
        from triage import Classifier  # noqa: PLC0415  (scikit-learn loads only here)

        try:
            model = Classifier.load(path)
        except Exception:  # noqa: BLE001  (the pipeline loads it too and reports why)
            return None
        _models.clear()  # only the model in service is kept
        _models[key] = model
    return _models[key]


def share(path: str, stamp: float | None, model: Classifier) -> None:
    """The model in service, for workers forked from this process: they start with it."""
    _models.clear()
    _models[(path, stamp)] = model


def attach_to_parent() -> None:
    """Set a worker up to live and die with the process it works for.

    Signals are left to that process, which stops its workers in order: Ctrl-C reaches
    every process of a terminal's group, and a forked worker would otherwise keep the
    daemon's SIGTERM and SIGHUP handlers, which only set a flag. And a worker whose parent
    was killed outright (SIGKILL, the OOM killer) exits at once instead of waiting for work
    forever: its task queue never reports the loss, as the worker holds its other end.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="parent-watch",
                         daemon=True).start()


def _exit_with(parent_sentinel: int) -> None:
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)


def warm(path: str, stamp: float | None) -> bool:
    """Load the model ahead of the first chunk; only whether it loaded travels back."""
    return _load(path, stamp) is not None


def prepare_chunk(raws: list[bytes], model_path: str | None, stamp: float | None,
                  limits: ParseLimits | None = None, seconds: float = 5.0) -> list[Prepared]:
    """Parse, and score with the model file as of `stamp`, each mail of a chunk."""
    model = _load(model_path, stamp) if model_path else None
    return prepare(raws, model, stamp, limits or ParseLimits(), seconds)
