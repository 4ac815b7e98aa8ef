"""Service levels: when each step of a complaint falls due, and how far it should be escalated.

Defaults come from the complaint procedures (SPEC.md "Service levels"): acknowledge within 24 h
(2 h when urgent), investigate within 1 business day, resolve within 5 business days, follow up
within 2 days of resolution; escalate to level 1 when nobody picked the case up in 24 h, level 2
when unresolved at 48 h, level 3 when unresolved at 72 h.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingestd.procedure.calendar import BusinessCalendar

Clock = Literal["calendar", "business"]
DEADLINES = ("acknowledge", "investigate", "resolve")
MAX_LEVEL = 3
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class SlaPolicy(BaseModel):
    """The `[sla]` section of config.toml. Every key names its unit; unknown keys are errors.

    Urgent cases (critical severity, or a triage rule fired) use the urgent_* targets. The
    procedures give none for investigate and resolve, so we chose half a business day (4 h)
    and 1 business day: tighter than the normal clock, still reachable by a day shift.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    acknowledge_hours: NonNegative = 24
    urgent_acknowledge_hours: NonNegative = 2
    investigate_business_days: NonNegative = 1
    urgent_investigate_business_hours: NonNegative = 4
    resolve_business_days: NonNegative = 5
    urgent_resolve_business_days: NonNegative = 1
    followup_days: NonNegative = 2
    followup_clock: Clock = "calendar"
    escalate_level1_hours: NonNegative = 24
    escalate_level2_hours: NonNegative = 48
    escalate_level3_hours: NonNegative = 72
    escalation_clock: Clock = "calendar"
    serious_start_level: Annotated[int, Field(ge=1, le=MAX_LEVEL)] = 2

    @model_validator(mode="after")
    def _levels_in_order(self) -> Self:
        levels = (
            self.escalate_level1_hours,
            self.escalate_level2_hours,
            self.escalate_level3_hours,
        )
        if list(levels) != sorted(levels):
            raise ValueError("escalate_level1_hours <= level2 <= level3 must hold")
        return self


@dataclass(frozen=True)
class Deadlines:
    """When each step of one case falls due, in UTC."""

    acknowledge_due: datetime
    investigate_due: datetime
    resolve_due: datetime


@dataclass(frozen=True)
class CaseProgress:
    """What escalation needs to know about a case, besides its age.

    assigned: picked up, i.e. assigned to someone or status `investigating` or later.
    resolved: status `resolved` or `closed`; the clock stops raising the level.
    serious: triage said critical or a rule fired; starts at `serious_start_level` (2).
    senior: someone judged it serious, complex or recurring enough for senior management (3).
    """

    assigned: bool = False
    resolved: bool = False
    serious: bool = False
    senior: bool = False


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: give a time zone")
    return dt.astimezone(UTC)


def compute_deadlines(
    received_at: datetime, urgent: bool, policy: SlaPolicy, calendar: BusinessCalendar
) -> Deadlines:
    """Deadlines for a case received at `received_at`; acknowledge counts calendar hours."""
    start = _utc(received_at)
    if urgent:
        return Deadlines(
            acknowledge_due=start + timedelta(hours=policy.urgent_acknowledge_hours),
            investigate_due=calendar.add_business_hours(
                start, policy.urgent_investigate_business_hours
            ),
            resolve_due=calendar.add_business_days(start, policy.urgent_resolve_business_days),
        )
    return Deadlines(
        acknowledge_due=start + timedelta(hours=policy.acknowledge_hours),
        investigate_due=calendar.add_business_days(start, policy.investigate_business_days),
        resolve_due=calendar.add_business_days(start, policy.resolve_business_days),
    )


def followup_due(resolved_at: datetime, policy: SlaPolicy, calendar: BusinessCalendar) -> datetime:
    """When the satisfaction follow-up is due: `followup_days` after resolution (UTC)."""
    if policy.followup_clock == "business":
        return calendar.add_business_days(resolved_at, policy.followup_days)
    return _utc(resolved_at) + timedelta(days=policy.followup_days)


def _elapsed_hours(
    start: datetime, now: datetime, clock: Clock, calendar: BusinessCalendar
) -> float:
    if clock == "business":
        return calendar.business_hours_between(start, now)
    return (_utc(now) - _utc(start)).total_seconds() / 3600


def _floor(progress: CaseProgress, policy: SlaPolicy) -> int:
    """The level a case has from its nature alone, before any clock runs."""
    if progress.senior:
        return MAX_LEVEL
    if progress.serious:
        return policy.serious_start_level
    return 0


def escalation_level_due(
    received_at: datetime,
    now: datetime,
    progress: CaseProgress,
    policy: SlaPolicy,
    calendar: BusinessCalendar,
) -> int:
    """The escalation level (0-3) the case should have at `now`.

    Levels only say what is due now; the caller keeps the highest level ever recorded, so a
    case that was escalated and then resolved stays at its level.
    """
    floor = _floor(progress, policy)
    if progress.resolved:
        return floor
    hours = _elapsed_hours(received_at, now, policy.escalation_clock, calendar)
    if hours >= policy.escalate_level3_hours:
        return MAX_LEVEL
    if hours >= policy.escalate_level2_hours:
        return max(floor, 2)
    if hours >= policy.escalate_level1_hours and not progress.assigned:
        return max(floor, 1)
    return floor


def _late(due: datetime, done_at: datetime | None, now: datetime) -> bool:
    if done_at is None:
        return _utc(now) > due
    return _utc(done_at) > due


def breaches(
    deadlines: Deadlines,
    acknowledged_at: datetime | None,
    assigned_at: datetime | None,
    resolved_at: datetime | None,
    now: datetime,
) -> list[str]:
    """Names of the steps (in DEADLINES order) done late, or not done and overdue at `now`."""
    done = (
        (deadlines.acknowledge_due, acknowledged_at),
        (deadlines.investigate_due, assigned_at),
        (deadlines.resolve_due, resolved_at),
    )
    return [step for step, (due, at) in zip(DEADLINES, done, strict=True) if _late(due, at, now)]
