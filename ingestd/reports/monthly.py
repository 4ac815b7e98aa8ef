"""The monthly complaint review (seeds: "review and analyze complaint trends monthly").

The report covers the cases *received* in the month (a cohort): what came in, how fast it
was acknowledged and resolved, which deadlines were missed, how far cases were escalated,
what customers said in the follow-up, and what keeps coming back.

Definitions, so the numbers can be checked by hand:
- times are hours from received_at; median is the usual median (mean of the middle two),
  p90 is the nearest-rank 90th percentile (the ceil(0.9 n)-th smallest value);
- a breach is a step done after its deadline, or not done and overdue at `as_of`;
- escalations count escalation events of the cohort by the level reached;
- response rate = answered follow-ups / follow-ups sent (answered: a score or solved/not);
- updates count the progress mails of the cohort sent to customers, by kind;
- recurring: customers and order numbers with two or more cases in the month, and the most
  frequent category + subject keyword pairs.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd.casework import UPDATE_KINDS
from ingestd.errors import IngestdError
from ingestd.procedure.deadlines import DEADLINES, Deadlines, breaches
from ingestd.procedure.recurring import is_senior
from ingestd.reports.trend import monthly_trend
from storage import Case, Event, Outbox
from triage.labels import SEVERITIES

TOP = 10
_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_STOP = frozenset((
    "this", "that", "with", "from", "have", "your", "about", "what", "when", "there", "their",
    "they", "been", "were", "would", "could", "should", "please", "order", "still", "again",
    "very", "just", "will", "into", "over", "than", "then", "them", "only", "also", "dear",
    "hello", "regards", "thanks", "thank", "help", "need", "complaint", "issue", "problem"))


@dataclass
class Timing:
    count: int = 0
    median_hours: float | None = None
    p90_hours: float | None = None


@dataclass
class MonthlyReport:
    month: str
    as_of: str
    total: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    acknowledge: Timing = field(default_factory=Timing)
    resolve: Timing = field(default_factory=Timing)
    breaches: dict[str, int] = field(default_factory=dict)
    escalations: dict[str, int] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)
    followups_sent: int = 0
    followups_answered: int = 0
    response_rate: float | None = None
    satisfaction_average: float | None = None
    satisfaction_scores: dict[str, int] = field(default_factory=dict)
    solved_confirmed: int = 0
    not_solved: int = 0
    recurring_flagged: int = 0
    recurring_customers: list[dict[str, Any]] = field(default_factory=list)
    recurring_orders: list[dict[str, Any]] = field(default_factory=list)
    top_issues: list[dict[str, Any]] = field(default_factory=list)
    root_causes: list[dict[str, Any]] = field(default_factory=list)
    targets: dict[str, float | None] = field(default_factory=dict)
    trend: list[dict[str, Any]] = field(default_factory=list)
    hours_to_acknowledge: list[float] = field(default_factory=list)
    hours_to_resolve: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for per_case in ("hours_to_acknowledge", "hours_to_resolve"):  # for the plots only
            data.pop(per_case)
        return data


def parse_month(text: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of month `YYYY-MM` in UTC; the previous month when not given."""
    if text is None:
        year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    else:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise IngestdError(f"--month {text!r}: use YYYY-MM, e.g. 2026-11")
        year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def monthly_report(session: Session, start: datetime, end: datetime,
                   as_of: datetime) -> MonthlyReport:
    """Compute the report for cases received in [start, end); mail an agent marked as not a
    complaint (spam, a newsletter) is no case of the month."""
    cases = list(session.scalars(select(Case).where(
        Case.received_at >= start, Case.received_at < end,
        Case.not_complaint.is_(False)).order_by(Case.id)))
    report = MonthlyReport(month=start.strftime("%Y-%m"), as_of=as_of.isoformat(),
                           total=len(cases))
    report.by_category = _count(c.category or "unknown" for c in cases)
    report.by_severity = _by_severity(cases)
    report.hours_to_acknowledge = _done_hours(cases, "acknowledged_at")
    report.acknowledge = _timing(report.hours_to_acknowledge)
    report.hours_to_resolve = _done_hours(cases, "resolved_at")
    report.resolve = _timing(report.hours_to_resolve)
    report.targets = _targets(cases)
    report.breaches = _breaches(cases, as_of)
    report.escalations = _escalations(session, [c.id for c in cases])
    report.updates = _updates(session, [c.id for c in cases])
    _satisfaction(report, cases)
    _recurring(report, cases)
    report.trend = monthly_trend(session, start, as_of)
    return report


def _count(values: Any) -> dict[str, int]:
    return dict(Counter(values).most_common())


def _by_severity(cases: list[Case]) -> dict[str, int]:
    """Counts in severity order, low to critical (zeros included), then anything else."""
    counts = Counter(c.severity or "unknown" for c in cases)
    return {**{s: counts.pop(s, 0) for s in SEVERITIES}, **dict(counts.most_common())}


def _done_hours(cases: list[Case], done: str) -> list[float]:
    """Hours from receipt to `done` for the cases where it happened, smallest first."""
    return sorted(h for c in cases if (h := _hours(c.received_at, getattr(c, done))) is not None)


def _targets(cases: list[Case]) -> dict[str, float | None]:
    """The SLA windows the cases had (median hours from receipt to the deadline): the
    target lines of the plots. Business-day deadlines vary with weekends, hence the median."""
    def window(due: str) -> float | None:
        hours = [h for c in cases if (h := _hours(c.received_at, getattr(c, due))) is not None]
        return round(statistics.median(hours), 2) if hours else None

    return {"acknowledge_hours": window("acknowledge_due"), "resolve_hours": window("resolve_due")}


def _hours(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 3600, 2)


def _timing(values: Sequence[float | None]) -> Timing:
    done = sorted(v for v in values if v is not None)
    if not done:
        return Timing()
    p90 = done[math.ceil(0.9 * len(done)) - 1]
    return Timing(count=len(done), median_hours=round(statistics.median(done), 2),
                  p90_hours=p90)


def _breaches(cases: list[Case], as_of: datetime) -> dict[str, int]:
    counts = dict.fromkeys(DEADLINES, 0)
    for c in cases:
        if c.acknowledge_due and c.investigate_due and c.resolve_due:
            deadlines = Deadlines(c.acknowledge_due, c.investigate_due, c.resolve_due)
            for step in breaches(deadlines, c.acknowledged_at, c.assigned_at, c.resolved_at,
                                 as_of):
                counts[step] += 1
    return counts


def _escalations(session: Session, case_ids: list[int]) -> dict[str, int]:
    levels = session.scalars(select(Event.new).where(
        Event.kind == "escalation", Event.case_id.in_(case_ids)))
    counts = Counter(str(level) for level in levels)
    return {str(level): counts.get(str(level), 0) for level in (1, 2, 3)}


def _updates(session: Session, case_ids: list[int]) -> dict[str, int]:
    kinds = session.scalars(select(Outbox.kind).where(
        Outbox.state == "sent", Outbox.case_id.in_(case_ids),
        Outbox.kind.in_([f"update_{kind}" for kind in UPDATE_KINDS])))
    counts = Counter(kind.removeprefix("update_") for kind in kinds)
    return {kind: counts.get(kind, 0) for kind in UPDATE_KINDS}


def _satisfaction(report: MonthlyReport, cases: list[Case]) -> None:
    sent = [c for c in cases if c.followup_sent_at is not None]
    answered = [c for c in sent if c.satisfaction is not None or c.solved_confirmed is not None]
    scores = [c.satisfaction for c in sent if c.satisfaction is not None]
    report.followups_sent, report.followups_answered = len(sent), len(answered)
    report.response_rate = round(len(answered) / len(sent), 4) if sent else None
    report.satisfaction_average = round(statistics.mean(scores), 2) if scores else None
    report.satisfaction_scores = {str(s): scores.count(s) for s in range(1, 6)}
    report.solved_confirmed = sum(1 for c in sent if c.solved_confirmed is True)
    report.not_solved = sum(1 for c in sent if c.solved_confirmed is False)


def _recurring(report: MonthlyReport, cases: list[Case]) -> None:
    report.recurring_flagged = sum(1 for c in cases if is_senior(c))
    customers = Counter(c.customer_address for c in cases if c.customer_address)
    report.recurring_customers = [{"customer": a, "cases": n}
                                  for a, n in customers.most_common(TOP) if n >= 2]
    orders = Counter(o for c in cases for o in set(c.order_numbers or []))
    report.recurring_orders = [{"order": o, "cases": n} for o, n in orders.most_common(TOP)
                               if n >= 2]
    pairs = Counter((c.category or "unknown", w) for c in cases for w in _keywords(c.subject))
    report.top_issues = [{"category": cat, "keyword": w, "cases": n}
                         for (cat, w), n in pairs.most_common(TOP) if n >= 2]
    causes = Counter((c.corrective_action or {}).get("root_cause") for c in cases)
    report.root_causes = [{"root_cause": r, "cases": n} for r, n in causes.most_common(TOP) if r]


def _keywords(subject: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(subject or "")) if w not in _STOP}
