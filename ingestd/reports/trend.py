"""The twelve months up to the report's month: is the volume growing, are deadlines kept?

One row per month (oldest first), each counted the way the monthly report counts its own
month: cases received in the month, by severity, and how many of them missed any deadline
(done late, or not done and overdue at `as_of`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd.procedure.deadlines import Deadlines, breaches
from storage import Case
from triage.labels import SEVERITIES

MONTHS = 12


def month_start(year: int, month: int) -> datetime:
    """The first instant of a month given by a possibly out-of-range month number."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def monthly_trend(session: Session, start: datetime, as_of: datetime,
                  months: int = MONTHS) -> list[dict[str, Any]]:
    """`months` rows ending with the month that begins at `start`."""
    first = month_start(start.year, start.month - months + 1)
    end = month_start(start.year, start.month + 1)
    rows = {month_start(first.year, first.month + i).strftime("%Y-%m"): _empty(
        month_start(first.year, first.month + i)) for i in range(months)}
    query = select(Case.received_at, Case.severity, Case.acknowledge_due, Case.investigate_due,
                   Case.resolve_due, Case.acknowledged_at, Case.assigned_at,
                   Case.resolved_at).where(Case.received_at >= first, Case.received_at < end,
                                           Case.not_complaint.is_(False))
    for received, severity, *times in session.execute(query):
        row = rows[received.astimezone(UTC).strftime("%Y-%m")]
        row["total"] += 1
        key = severity or "unknown"
        row["by_severity"][key] = row["by_severity"].get(key, 0) + 1
        row["late"] += _late(times, as_of)
    return list(rows.values())


def _empty(start: datetime) -> dict[str, Any]:
    return {"month": start.strftime("%Y-%m"), "total": 0,
            "by_severity": dict.fromkeys(SEVERITIES, 0), "late": 0}


def _late(times: list[datetime | None], as_of: datetime) -> int:
    ack_due, investigate_due, resolve_due, acknowledged, assigned, resolved = times
    if ack_due is None or investigate_due is None or resolve_due is None:
        return 0
    missed = breaches(Deadlines(ack_due, investigate_due, resolve_due), acknowledged, assigned,
                      resolved, as_of)
    return 1 if missed else 0
