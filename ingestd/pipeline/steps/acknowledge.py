"""Step: queue the acknowledgment (or record why not) and the team notification (SPEC:
outgoing mail). Mail is enqueued here and sent by the sender, never inline."""

from __future__ import annotations

from ingestd import casework
from ingestd.pipeline.context import Context
from storage import Suppression


def acknowledge(ctx: Context) -> None:
    """Step: queue the acknowledgment (or record why not) and the team notification."""
    case = ctx.case
    if not ctx.new_case or case is None:
        return
    services, now = ctx.services, ctx.services.clock()
    sender = casework.sender_key(case.customer_address, services.settings.floods)
    reason = ctx.suppressed or casework.acknowledgment_withheld(
        ctx.session, sender, services.settings.cases.acknowledgments_per_sender_per_hour,
        services.settings.floods, now)
    view = casework.case_view(case, services.calendar.zone)
    if reason is None:
        kind = "acknowledgment_urgent" if case.escalate else "acknowledgment"
        draft = services.composer.compose(
            kind, case.customer_address or "", case.reference or "", view,
            in_reply_to=ctx.parsed.message_id, references=ctx.parsed.references)
        casework.enqueue(ctx.session, draft, case, key=f"ack:{case.id}", at=now,
                         to_customer=True, sender_key=sender)
    else:
        ctx.session.add(Suppression(raw_message_id=ctx.raw.id, case_id=case.id,
                                    sender=ctx.parsed.sender_address, reason=reason, at=now))
        ctx.outcome = "new_case_ack_suppressed"
    _notify_team(ctx, view)


def _notify_team(ctx: Context, view: dict[str, object]) -> None:
    case, services = ctx.case, ctx.services
    assert case is not None  # noqa: S101  (acknowledge runs on new cases only)
    headers = {"X-Ingestd-Case": case.reference or "", "X-Ingestd-Category": case.category or "",
               "X-Ingestd-Severity": case.severity or "",
               "X-Ingestd-Escalation-Level": str(case.escalation_level),
               "X-Ingestd-Needs-Review": "yes" if case.needs_review else "no"}
    draft = services.composer.compose(
        "team_notification", services.settings.routing.address(case.category),
        case.reference or "", view, headers=headers)
    casework.notify(ctx.session, draft, case, key=f"notify:{case.id}", at=services.clock(),
                    floods=services.settings.floods)
