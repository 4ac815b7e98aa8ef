"""The complaint procedure as code: business calendar, SLA deadlines and escalation levels."""

from ingestd.procedure.calendar import BusinessCalendar, CalendarConfig
from ingestd.procedure.deadlines import (
    DEADLINES,
    CaseProgress,
    Deadlines,
    SlaPolicy,
    breaches,
    compute_deadlines,
    escalation_level_due,
    followup_due,
)

__all__ = [
    "DEADLINES",
    "BusinessCalendar",
    "CalendarConfig",
    "CaseProgress",
    "Deadlines",
    "SlaPolicy",
    "breaches",
    "compute_deadlines",
    "escalation_level_due",
    "followup_due",
]
