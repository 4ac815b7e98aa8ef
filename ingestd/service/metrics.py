"""Prometheus metrics: counters kept by this instance, gauges read from the database.

What one instance did (fetched, processed, quarantined, sent, latency) is counted as it
happens. What is true of the whole installation (cases, outbox backlog, acknowledgments,
SLA breaches) is read from the database when Prometheus scrapes, so every instance on a
shared database reports the same, correct figure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ingestd.mailout.sender import SendStats
from storage import Case, Event, Outbox, Suppression

log = structlog.get_logger("ingestd.metrics")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """This instance's counters, registered in a registry of their own (one per daemon)."""

    def __init__(self, factory: sessionmaker[Session] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self._fetched = Counter("ingestd_messages_fetched", "Messages stored from a source",
                                ["mailbox", "folder"], registry=reg)
        self._duplicates = Counter("ingestd_messages_duplicate", "Fetched messages already stored",
                                   ["mailbox", "folder"], registry=reg)
        self._processed = Counter("ingestd_messages_processed", "Messages through the pipeline",
                                  ["mailbox", "outcome"], registry=reg)
        self._quarantined = Counter("ingestd_messages_quarantined", "Messages a step failed on",
                                    ["mailbox"], registry=reg)
        self._latency = Histogram("ingestd_processing_seconds", "Pipeline time per message",
                                  registry=reg, buckets=LATENCY_BUCKETS)
        self._mail = Counter("ingestd_mail_deliveries", "Outbox delivery attempts by result",
                             ["result"], registry=reg)
        self._last_success = Gauge("ingestd_folder_last_success_timestamp_seconds",
                                   "When the folder was last read successfully",
                                   ["mailbox", "folder"], registry=reg)
        self._up = Gauge("ingestd_folder_up", "1 while the folder's server answers",
                         ["mailbox", "folder"], registry=reg)
        self._tasks = Counter("ingestd_task_runs", "Background task runs by task and result",
                              ["task", "result"], registry=reg)
        if factory is not None:
            reg.register(DatabaseCollector(factory, clock or _utcnow))

    def fetched(self, mailbox: str, folder: str, stored: int, duplicates: int) -> None:
        self._fetched.labels(mailbox, folder).inc(stored)
        self._duplicates.labels(mailbox, folder).inc(duplicates)

    def processed(self, mailbox: str, state: str, outcome: str, seconds: float) -> None:
        if state == "quarantined":
            self._quarantined.labels(mailbox).inc()
        else:
            self._processed.labels(mailbox, outcome or state).inc()
        self._latency.observe(seconds)

    def folder(self, mailbox: str, folder: str, *, up: bool, at: float | None = None) -> None:
        self._up.labels(mailbox, folder).set(1 if up else 0)
        if up and at is not None:
            self._last_success.labels(mailbox, folder).set(at)

    def sent(self, stats: SendStats) -> None:
        for result, count in (("sent", stats.sent), ("retry", stats.retried),
                              ("failed", stats.failed)):
            if count:
                self._mail.labels(result).inc(count)

    def task(self, name: str, ok: bool) -> None:
        self._tasks.labels(name, "ok" if ok else "error").inc()


def _utcnow() -> datetime:
    from storage import utcnow  # noqa: PLC0415  (storage loads with the first scrape)

    return utcnow()


class DatabaseCollector(Collector):
    """Installation-wide gauges, read from the database at scrape time."""

    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.factory, self.clock = factory, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.factory() as session:
                families = list(self._families(session))
        except SQLAlchemyError as exc:
            log.warning("metrics_database_unavailable", error=type(exc).__name__)
            return
        yield from families

    def _families(self, session: Session) -> Iterator[GaugeMetricFamily]:
        yield _family("ingestd_cases", "Cases by category and severity", ["category", "severity"],
                      session.execute(select(Case.category, Case.severity, func.count())
                                      .group_by(Case.category, Case.severity)))
        yield _family("ingestd_outbox_backlog", "Outbox rows waiting to be sent", ["kind"],
                      session.execute(select(Outbox.kind, func.count())
                                      .where(Outbox.state == "pending").group_by(Outbox.kind)))
        acks = list(session.execute(select(Outbox.state, func.count()).where(
            Outbox.kind.startswith("acknowledgment")).group_by(Outbox.state)))
        suppressed = session.scalar(select(func.count()).select_from(Suppression)) or 0
        yield _family("ingestd_acknowledgments", "Acknowledgments by state (sent, pending, "
                      "failed) and those suppressed by the loop rules", ["state"],
                      [*acks, ("suppressed", suppressed)])
        yield _family("ingestd_escalations", "Escalation events by level", ["level"],
                      session.execute(select(Event.new, func.count())
                                      .where(Event.kind == "escalation").group_by(Event.new)))
        yield _family("ingestd_sla_breaches", "Open cases past a deadline", ["deadline"],
                      self._breaches(session))

    def _breaches(self, session: Session) -> list[tuple[str, int]]:
        now = self.clock()
        open_ = Case.status.notin_(("resolved", "closed"))
        checks = {
            "acknowledge": (Case.acknowledge_due < now) & Case.acknowledged_at.is_(None),
            "investigate": (Case.investigate_due < now) & Case.assigned_at.is_(None) & open_,
            "resolve": (Case.resolve_due < now) & Case.resolved_at.is_(None) & open_,
        }
        return [(name, session.scalar(select(func.count()).select_from(Case).where(where)) or 0)
                for name, where in checks.items()]


def _family(name: str, documentation: str, labels: list[str],
            rows: object) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for *values, count in rows:  # type: ignore[attr-defined]  # Row unpacks; its stubs say otherwise
        family.add_metric([str(v) if v is not None else "" for v in values], float(count))
    return family
