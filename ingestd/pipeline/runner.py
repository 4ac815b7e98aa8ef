"""Run stored messages through the steps: atomic per message, committed per batch.

Each message's case, messages, triage and outbox rows land together or not at all (see
`process_one`); a batch of messages shares one commit and writes its new rows together,
one executemany per table, which is what makes PostgreSQL fast. The raw bytes were
committed before, so a crash mid-batch only means the batch runs again. A step that raises
sends its message to quarantine, the rest go on.
During a backlog, worker processes parse and score each batch and the next one ahead of
the steps (`prepare`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ingestd.pipeline.context import Claimed, Context, Stop
from ingestd.pipeline.prepare import MIN_BATCH, Lookahead
from ingestd.pipeline.steps import STEPS
from ingestd.services import Services
from ingestd.worker import Prepared, prepare
from storage import Quarantine, RawMessage, reading, transaction
from storage.pending import pending_rows

log = structlog.get_logger("ingestd.pipeline")


@dataclass
class ProcessStats:
    processed: int = 0
    quarantined: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class Processed(NamedTuple):
    """How one message left the steps; written to its raw row with the rest of its batch."""

    row: Claimed
    state: str  # done or quarantined
    outcome: str
    at: datetime
    seconds: float


Done = Callable[[Processed], None]
FLUSH_AT = 300  # objects and rows waiting (about 40 new cases): bounds the counts' scan
BATCH_BYTES = 16 << 20  # of raw mail in one batch


def process_pending(services: Services, *, batch_size: int = 200,
                    stats: ProcessStats | None = None, stop: Callable[[], bool] | None = None,
                    on_done: Done | None = None,
                    after_batch: Callable[[], None] | None = None) -> ProcessStats:
    """Process pending raw messages until none is left or `stop` says so.

    `on_done(processed)` hears of each message once its batch is committed (metrics);
    `after_batch()` is called after each committed batch that processed anything.
    """
    stats = stats or ProcessStats()
    limits = services.settings.limits
    # Workers started with no model here (`run --once`) are waited for; otherwise the model
    # loads here, outside the write lock, and a trickle of mail is prepared inline.
    ahead = Lookahead(services.preparer, services.model.path, limits.parse_limits(),
                      limits.message_seconds,
                      wait=not services.model.loaded and services.preparer.started)
    try:
        while not (stop and stop()):
            done = process_batch(services, batch_size, stats, ahead)
            for processed in done:
                if on_done:
                    on_done(processed)
            if done and after_batch:
                after_batch()
            if not done:  # (a batch of big mails is smaller than batch_size: go on)
                break
    finally:
        ahead.forget()
    return stats


def process_batch(services: Services, limit: int, stats: ProcessStats,
                  ahead: Lookahead) -> list[Processed]:
    """Process up to `limit` pending messages in one committed transaction.

    They are read and prepared (parsed and scored) first, holding no lock: on SQLite the
    write lock is taken only for the steps' database work, so an agent's command never
    waits for a slow mail. Then the batch claims those still pending and runs the steps.
    """
    with reading(services.factory) as session:
        rows = _pending(session, limit)
        # A backlog, not a trickle, or no model here: the workers help.
        if len(rows) >= min(MIN_BATCH, limit) or (rows and ahead.wait):
            ahead.submit((row.id, row.raw) for row in rows)
            if len(rows) == limit:  # more is waiting: start on the next batch as well
                ahead.submit((row.id, row.raw) for row in _pending(session, limit, rows[-1].id))
    prepared = {row.id: ahead.take(row.id) or _prepare(services, row) for row in rows}
    if not services.model.loaded and services.preparer.model_failed():
        services.model.get()  # the workers could not load it: this says why, and stops
    with transaction(services.factory) as session:
        claimed = _claim(session, [row.id for row in rows])
        done = [process_one(session, services, row, stats, prepared[row.id])
                for row in rows if row.id in claimed]
        if done:  # one UPDATE for the batch (executemany) instead of one per message
            session.execute(update(RawMessage), [
                {"id": p.row.id, "state": p.state, "outcome": p.outcome, "processed_at": p.at}
                for p in done])
        return done


def _pending(session: Session, limit: int, after: int = 0) -> list[Claimed]:
    """The next pending messages, at most `limit` of them and about `BATCH_BYTES` of mail
    (always one): a batch of big mails must not be held in memory at once."""
    sizes = session.execute(
        select(RawMessage.id, func.coalesce(func.length(RawMessage.raw), 0))
        .where(RawMessage.state == "pending", RawMessage.id > after)
        .order_by(RawMessage.id).limit(limit)).all()
    ids: list[int] = []
    total = 0
    for row_id, size in sizes:
        if ids and total + size > BATCH_BYTES:
            break
        ids.append(row_id)
        total += size
    query = (select(RawMessage.id, RawMessage.source, RawMessage.folder, RawMessage.uid,
                    RawMessage.raw, RawMessage.received_at)
             .where(RawMessage.id.in_(ids)).order_by(RawMessage.id))
    return [Claimed(*row) for row in session.execute(query)] if ids else []


def _claim(session: Session, ids: list[int]) -> set[int]:
    """Of these messages, those still pending, locked for this batch (another instance may
    have taken some since they were read)."""
    query = (select(RawMessage.id).where(RawMessage.id.in_(ids), RawMessage.state == "pending")
             .with_for_update(skip_locked=True))
    return set(session.scalars(query)) if ids else set()


def _prepare(services: Services, row: Claimed) -> Prepared:
    """Parse and score one message here, within its time budget (no worker did)."""
    limits = services.settings.limits
    try:
        model = services.model.get()  # loaded before the clock starts
    except Exception:  # noqa: BLE001  (the triage step loads it again and quarantines why)
        model = None
    return prepare([row.raw or b""], model, services.model.stamp, limits.parse_limits(),
                   limits.message_seconds)[0]


def process_one(session: Session, services: Services, row: Claimed,
                stats: ProcessStats, prepared: Prepared | None = None) -> Processed:
    """Run one message through every step, all or nothing; quarantine it on failure.

    A message's new rows (a new case, and its messages, events and outbox rows queued with
    it, `storage.pending`) stay in the session until `FLUSH_AT` of them wait, and are then
    written with the batch's earlier ones, one executemany per table: a step that fails
    leaves only rows nothing wrote, and forgetting them undoes it. Steps that look up
    earlier rows flush first; counts add the rows not written yet
    (`storage.queries.Count`). A message that changes a case already written (a
    reply) runs its changes in a savepoint instead.

    `prepared` is a worker's head start (parsed and scored) when there is one. The caller
    writes the returned state to the raw message, with the rest of the batch.
    """
    started, cpu = time.perf_counter(), time.thread_time()
    ctx = Context(session=session, services=services, raw=row, prepared=prepared)
    queued = pending_rows(session)
    if len(session.new) + len(queued) >= FLUSH_AT:
        session.flush()
    earlier, mark = set(session.new), queued.mark()
    step_name, savepoint = "start", None
    try:
        with session.no_autoflush:
            for step in STEPS:
                step_name = step.__name__
                if savepoint is None and ctx.case is not None and not ctx.new_case:
                    savepoint = session.begin_nested()  # changes to a written case: undoable
                step(ctx)
    except Stop as stop:
        ctx.outcome = stop.outcome
    except DBAPIError:
        raise  # the database itself failed: the whole batch is retried, nothing quarantined
    except Exception as exc:  # noqa: BLE001  (any step failure is quarantined, never lost)
        if savepoint is not None:
            savepoint.rollback()
        for added in set(session.new) - earlier:  # not written yet: forgetting them undoes them
            if added in session:  # (expunging a case takes the rows linked to it along)
                session.expunge(added)
        queued.undo(mark)  # and the rows queued to go with a new case
        ctx.case = None
        _quarantine(session, services, row, step_name, exc)
        stats.quarantined += 1
        seconds = _log_line(row, ctx, "quarantined", started, step=step_name,
                            error=_describe(exc), cpu_ms=_cpu_ms(cpu))
        return Processed(row, "quarantined", f"failed at {step_name}", services.clock(), seconds)
    if savepoint is not None:
        savepoint.commit()
    stats.processed += 1
    stats.count(ctx.outcome)
    seconds = _log_line(row, ctx, ctx.outcome, started, cpu_ms=_cpu_ms(cpu))
    return Processed(row, "done", ctx.outcome, services.clock(), seconds)


def _quarantine(session: Session, services: Services, row: Claimed, step: str,
                exc: Exception) -> None:
    entry = session.scalar(select(Quarantine).where(Quarantine.raw_message_id == row.id))
    if entry is None:
        session.add(Quarantine(raw_message_id=row.id, step=step, error=_describe(exc),
                               at=services.clock()))
    else:
        entry.step, entry.error, entry.at = step, _describe(exc), services.clock()
        entry.attempts, entry.resolved_at = entry.attempts + 1, None


def _cpu_ms(since: float) -> float:
    return round((time.thread_time() - since) * 1000, 2)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _log_line(row: Claimed, ctx: Context, action: str, started: float,
              **extra: object) -> float:
    """The canonical line for one message; returns the seconds it took.

    A quarantined message is a warning: it waits for a person (`ingestd quarantine`)."""
    seconds = time.perf_counter() - started
    case = ctx.case
    parsed = getattr(ctx, "parsed", None)  # (not set when the parse failed)
    if parsed is not None and parsed.over_limits:
        extra = {**extra, "over_limits": ",".join(parsed.over_limits)}
    if ctx.prepared is not None:  # read and scored before the database work
        extra = {**extra, "prepare_ms": round(ctx.prepared.seconds * 1000, 2),
                 "prepare_cpu_ms": round(ctx.prepared.cpu * 1000, 2)}
    emit = log.warning if action == "quarantined" else log.info
    emit("message", source=row.source, folder=row.folder, uid=row.uid, raw_id=row.id,
             case=case.reference if case else None, category=case.category if case else None,
             severity=case.severity if case else None, action=action,
             suppressed=ctx.suppressed, duration_ms=round(seconds * 1000, 2), **extra)
    return seconds


def retry_quarantined(services: Services, ids: Sequence[int] | None = None) -> ProcessStats:
    """Put quarantined messages (all, or the given quarantine ids) back and run them again."""
    with transaction(services.factory) as session:
        query = select(Quarantine).where(Quarantine.resolved_at.is_(None))
        if ids:
            query = query.where(Quarantine.id.in_(ids))
        for entry in session.scalars(query):
            raw = session.get(RawMessage, entry.raw_message_id)
            if raw is not None:
                raw.state = "pending"
    stats = process_pending(services)
    with transaction(services.factory) as session:
        for entry in session.scalars(select(Quarantine).where(Quarantine.resolved_at.is_(None))):
            raw = session.get(RawMessage, entry.raw_message_id)
            if raw is not None and raw.state == "done":
                entry.resolved_at = services.clock()
    return stats
