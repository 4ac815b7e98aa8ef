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
from typing import TYPE_CHECKING, Any

from ingestd.budget import budget
from ingestd.headers import header_start
from ingestd.message import ParsedMessage, parse_bytes
from ingestd.mimelimits import ParseLimits, triage_view

if TYPE_CHECKING:
    from triage import Classifier, TriageResult
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
    `decision` is the model's decision on the scores with no signal (no earlier complaint,
    no spike): what the triage step takes when the case history adds none, so a process
    that only runs the steps never loads scikit-learn. For the same reason the scores
    travel as plain values (`triage.model.Scores` is defined beside scikit-learn's
    imports, and NumPy's arrays would bring NumPy): `scores` makes them whole again.
    """

    parsed: ParsedMessage | None
    score_values: tuple[Any, ...] | None = None
    stamp: float | None = None
    error: Exception | None = None
    decision: TriageResult | None = None
    seconds: float = 0.0  # to parse it (and score it, when scores came with it)
    cpu: float = 0.0  # processor seconds of that

    @property
    def scores(self) -> Scores | None:
        """The scores, for a decision this process makes itself (with the model loaded)."""
        if self.score_values is None:
            return None
        import numpy as np  # noqa: PLC0415  (only a process that scores itself needs it)

        from triage.model import Scores  # noqa: PLC0415  (scikit-learn: as above)

        category, severity, escalation, rules, empty = self.score_values
        return Scores(np.asarray(category), np.asarray(severity), escalation, rules, empty)


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
    return [_scored(p, next(scores), model, stamp, (each, each_cpu))
            if p.parsed is not None else p for p in parsed]


def _scored(prepared: Prepared, scores: Scores, model: Classifier, stamp: float | None,
            spent: tuple[float, float]) -> Prepared:
    """With the decision on no signal, and the seconds and processor seconds spent scoring."""
    values = (scores.category.tolist(), scores.severity.tolist(),
              None if scores.escalation is None else float(scores.escalation),
              tuple(scores.rules), bool(scores.empty))
    return Prepared(prepared.parsed, values, stamp, decision=model.decide(scores),
                    seconds=prepared.seconds + spent[0], cpu=prepared.cpu + spent[1])


ModelKey = tuple[str, float | None, float]  # the file, its modification time, review threshold
_models: dict[ModelKey, Classifier] = {}


def _load(key: ModelKey) -> Classifier | None:
    """The model file as of its stamp, loaded once per worker; None when it is unusable."""
    if key not in _models:
        from triage import Classifier  # noqa: PLC0415  (scikit-learn loads only here)

        try:
            model = Classifier.load(key[0], review_threshold=key[2])
        except Exception:  # noqa: BLE001  (the pipeline loads it too and reports why)
            return None
        _models.clear()  # only the model in service is kept
        _models[key] = model
    return _models[key]


def share(key: ModelKey, model: Classifier) -> None:
    """The model in service, for workers forked from this process: they start with it."""
    _models.clear()
    _models[key] = model


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


def warm(key: ModelKey) -> bool:
    """Load the model ahead of the first chunk; only whether it loaded travels back."""
    return _load(key) is not None


def prepare_chunk(raws: list[bytes], model: ModelKey | None,
                  limits: ParseLimits | None = None, seconds: float = 5.0) -> list[Prepared]:
    """Parse, and score with the model file as of its stamp, each mail of a chunk."""
    classifier = _load(model) if model else None
    return prepare(raws, classifier, model[1] if model else None, limits or ParseLimits(),
                   seconds)
