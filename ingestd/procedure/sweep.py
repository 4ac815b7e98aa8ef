"""The SLA sweep: escalations, new-date notices, follow-ups and breaches, run by the daemon
every minute.

A case is raised to the level its clocks and its nature call for (escalation_level_due).
When it has to climb more than one level at once (a sweep that did not run for days, or a
recurring complaint that goes straight to senior management), every level passed is
recorded and notified once, lowest first: each role hears of the case, as the seeds'
escalation chain expects, and nobody is told twice.

A sweep decides as of the time it is given (``sla sweep --now`` may look ahead), but the
mail it queues is due at once, by the real clock: a sweep three days ahead notifies now.

Several instances may sweep at once: cases are claimed with FOR UPDATE SKIP LOCKED on
PostgreSQL (SQLite takes its write lock at BEGIN), and the unique index on escalation
events plus the unique outbox keys make a repeated decision a harmless no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd import casework
from ingestd.procedure.deadlines import (
    DEADLINES,
    MAX_LEVEL,
    CaseProgress,
    Deadlines,
    breaches,
    escalation_level_due,
)
from ingestd.procedure.followup_mail import send_due_followups
from ingestd.procedure.recurring import is_senior
from storage import Case, transaction

if TYPE_CHECKING:
    from ingestd.services import Services

log = structlog.get_logger("ingestd.sweep")
BATCH = 200
OPEN = ("new", "acknowledged", "investigating")


@dataclass
class SweepReport:
    """What one sweep did; `breaches` counts open cases past each step's deadline now.

    `due` is when its mail may go: the real time the sweep ran, whatever `now` it was given."""

    now: datetime
    due: datetime
    escalations: list[tuple[str, int]] = field(default_factory=list)
    followups: list[str] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)  # new-date notices to customers
    breaches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DEADLINES, 0))
    open_cases: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "open_cases": self.open_cases,
                "escalations": [{"reference": r, "level": lvl} for r, lvl in self.escalations],
                "followups": self.followups, "updates": self.updates,
                "breaches": self.breaches}


def sweep(services: Services, now: datetime) -> SweepReport:
    """Escalate, give new dates, send due follow-ups and count breaches; one transaction per
    batch of cases."""
    report = SweepReport(now=now, due=services.clock())
    _each_batch(services, _open_cases, lambda s, cases: _escalate_batch(s, services, cases, report))
    _each_batch(services, _followups_due(now), lambda s, cases: report.followups.extend(
        send_due_followups(s, services, list(cases), now, due=report.due)))
    if report.escalations or report.followups or report.updates:
        log.info("sweep", escalations=len(report.escalations), followups=len(report.followups),
                 updates=len(report.updates), breaches=report.breaches)
    return report


def _each_batch(services: Services, query: Any, work: Any) -> None:
    """Claim cases in id order, BATCH at a time, skipping those another instance holds."""
    last_id = 0
    while True:
        with transaction(services.factory) as session:
            cases = session.scalars(query(last_id).limit(BATCH)
                                    .with_for_update(skip_locked=True)).all()
            if cases:
                work(session, cases)
        if len(cases) < BATCH:
            return
        last_id = cases[-1].id


def _open_cases(last_id: int) -> Any:
    return select(Case).where(Case.id > last_id, Case.status.in_(OPEN)).order_by(Case.id)


def _followups_due(now: datetime) -> Any:
    def query(last_id: int) -> Any:
        return select(Case).where(
            Case.id > last_id, Case.status.in_(("resolved", "closed")),
            Case.followup_sent_at.is_(None), Case.resolved_at.is_not(None),
            (Case.followup_due.is_(None)) | (Case.followup_due <= now)).order_by(Case.id)
    return query


def _escalate_batch(session: Session, services: Services, cases: Sequence[Case],
                    report: SweepReport) -> None:
    for case in cases:
        report.open_cases += 1
        _count_breaches(case, report)
        target, reason = level_due(services, case, report.now)
        for level in range(case.escalation_level + 1, target + 1):
            if casework.escalate(session, case, level, reason=reason(level),
                                 composer=services.composer,
                                 address=services.settings.escalation.address(level),
                                 at=report.now, due=report.due,
                                 floods=services.settings.floods):
                report.escalations.append((case.reference or "", level))
        _new_date(session, services, case, report)


def _new_date(session: Session, services: Services, case: Case, report: SweepReport) -> None:
    """Tell the customer a new date before the one they were given passes."""
    opens = casework.notice_window_opens(services, case)
    if opens is not None and report.now >= opens and casework.new_date_notice(
            session, services, case, now=report.now, due=report.due):
        report.updates.append(case.reference or "")


def progress(case: Case) -> CaseProgress:
    return CaseProgress(assigned=case.assignee is not None or case.status == "investigating",
                        resolved=case.status in ("resolved", "closed"),
                        serious=case.serious or case.escalate, senior=is_senior(case))


def level_due(services: Services, case: Case, now: datetime) -> tuple[int, Any]:
    """The level the case should have now, and a function giving each level's reason."""
    policy, calendar = services.settings.sla, services.calendar
    state = progress(case)
    target = min(MAX_LEVEL, escalation_level_due(case.received_at, now, state, policy, calendar))
    hours = (calendar.business_hours_between(case.received_at, now)
             if policy.escalation_clock == "business"
             else (now - case.received_at).total_seconds() / 3600)
    limits = {1: policy.escalate_level1_hours, 2: policy.escalate_level2_hours,
              3: policy.escalate_level3_hours}

    def reason(level: int) -> str:
        if level == 1 and hours >= limits[1] and not state.assigned:
            return f"not picked up within {limits[1]:g} h"
        if level >= 2 and hours >= limits[level]:
            return f"unresolved after {limits[level]:g} h"
        if state.senior:
            return "recurring complaint: senior management"
        if state.serious:
            return "serious: " + ("; ".join((case.triage or {}).get("reasons", [])) or "triage")
        return reason(target) if level < target else f"level {level} due"
    return target, reason


def _count_breaches(case: Case, report: SweepReport) -> None:
    if None in (case.acknowledge_due, case.investigate_due, case.resolve_due):
        return
    deadlines = Deadlines(case.acknowledge_due, case.investigate_due, case.resolve_due)  # type: ignore[arg-type]  # all set on an open case
    for step in breaches(deadlines, case.acknowledged_at, case.assigned_at, case.resolved_at,
                         report.now):
        report.breaches[step] += 1
