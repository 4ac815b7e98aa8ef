"""Steps that decide what mail a message causes: bounces recorded, acknowledgments, routing."""

from __future__ import annotations

import re

from sqlalchemy import select

from ingestd import workflow
from ingestd.pipeline.context import Context, Stop
from ingestd.pipeline.loops import (
    HOUR,
    is_auto_reply,
    is_bounce,
    over_rate_limit,
    suppression_reason,
)
from ingestd.worker import parse_raw
from storage import Outbox, Suppression

_ANY_MESSAGE_ID = re.compile(rb"<([^<>\s]+@[^<>\s]+)>")


def parse(ctx: Context) -> None:
    """Step: parse the raw bytes (unless a worker did); a mail must start with a header."""
    prepared = ctx.prepared
    if prepared is not None and prepared.parsed is not None:
        ctx.parsed = prepared.parsed
    else:
        ctx.parsed = parse_raw(ctx.raw.raw or b"")


def filter_loops(ctx: Context) -> None:
    """Step: stop our own mail and bounces; mark robot mail so it is never answered."""
    parsed, composer = ctx.parsed, ctx.services.composer
    if parsed.message_id and composer.is_ours(parsed.message_id):
        raise Stop("own_mail")
    if is_bounce(parsed):
        raise Stop(_record_bounce(ctx))
    ctx.suppressed = suppression_reason(parsed, ctx.services.settings.our_addresses())
    if parsed.sender_address is None:
        raise ValueError("no sender address (From is missing or unreadable); cannot open a case")


def _record_bounce(ctx: Context) -> str:
    """Match a delivery report to the outbox row it reports on, by our Message-ID in it."""
    composer = ctx.services.composer
    ctx.session.flush()  # the batch's earlier messages may have queued the mail it reports on
    for match in _ANY_MESSAGE_ID.finditer(ctx.raw.raw or b""):
        message_id = match.group(1).decode("ascii", "replace")
        if not composer.is_ours(message_id):
            continue
        row = ctx.session.scalar(select(Outbox).where(Outbox.message_id == message_id))
        if row is not None:
            row.bounced_at, row.last_error = ctx.services.clock(), "bounced: " + (
                ctx.parsed.subject or "delivery report")[:200]
            return "bounce_recorded"
    return "bounce_unmatched"


def drop_stray_auto_replies(ctx: Context) -> None:
    """Step: an out-of-office answer to no case of ours opens no case (it is kept, not lost)."""
    if ctx.case is None and is_auto_reply(ctx.parsed):
        ctx.session.add(Suppression(raw_message_id=ctx.raw.id, sender=ctx.parsed.sender_address,
                                    reason=ctx.suppressed or "auto-reply",
                                    at=ctx.services.clock()))
        raise Stop("auto_reply_ignored")


def acknowledge(ctx: Context) -> None:
    """Step: queue the acknowledgment (or record why not) and the team notification."""
    case = ctx.case
    if not ctx.new_case or case is None:
        return
    services, now = ctx.services, ctx.services.clock()
    reason = ctx.suppressed or _rate_limited(ctx)
    view = workflow.case_view(case, services.calendar.zone)
    if reason is None:
        kind = "acknowledgment_urgent" if case.escalate else "acknowledgment"
        draft = services.composer.compose(
            kind, case.customer_address or "", case.reference or "", view,
            in_reply_to=ctx.parsed.message_id, references=ctx.parsed.references)
        workflow.enqueue(ctx.session, draft, case, key=f"ack:{case.id}", at=now, to_customer=True)
    else:
        ctx.session.add(Suppression(raw_message_id=ctx.raw.id, case_id=case.id,
                                    sender=ctx.parsed.sender_address, reason=reason, at=now))
        ctx.outcome = "new_case_ack_suppressed"
    _notify_team(ctx, view)


def _rate_limited(ctx: Context) -> str | None:
    limit = ctx.services.settings.cases.acknowledgments_per_sender_per_hour
    address = ctx.parsed.sender_address or ""
    if over_rate_limit(ctx.session, address, limit, ctx.services.clock() - HOUR):
        return f"rate limit: {limit} acknowledgments per hour"
    return None


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
    workflow.enqueue(ctx.session, draft, case, key=f"notify:{case.id}", at=services.clock())
