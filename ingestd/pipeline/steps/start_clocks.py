"""Step: set the service-level deadlines; escalated cases start at level 2 (SPEC)."""

from __future__ import annotations

from ingestd import casework
from ingestd.pipeline.context import Context
from ingestd.procedure import compute_deadlines


def start_clocks(ctx: Context) -> None:
    """Step: set the service-level deadlines; escalated cases start at level 2 (SPEC)."""
    if not ctx.new_case or ctx.case is None:
        return
    services, case = ctx.services, ctx.case
    deadlines = compute_deadlines(case.received_at, case.escalate, services.settings.sla,
                                  services.calendar)
    case.acknowledge_due = deadlines.acknowledge_due
    case.investigate_due = deadlines.investigate_due
    case.resolve_due = deadlines.resolve_due
    if case.escalate:
        level = services.settings.sla.serious_start_level
        casework.escalate(ctx.session, case, level, reason="; ".join(
            (case.triage or {}).get("reasons", [])) or "triage", composer=services.composer,
            address=services.settings.escalation.address(level), at=services.clock(),
            floods=services.settings.floods)
