"""Step: stop our own mail and bounces (matched to what they report on); mark robot mail so
it is never answered (SPEC: no mail loops)."""

from __future__ import annotations

import re

from sqlalchemy import select

from ingestd.pipeline.context import Context, Stop
from ingestd.pipeline.loops import is_bounce, suppression_reason
from storage import Outbox

_ANY_MESSAGE_ID = re.compile(rb"<([^<>\s]+@[^<>\s]+)>")


def filter_loops(ctx: Context) -> None:
    """Step: stop our own mail and bounces; mark robot mail so it is never answered."""
    parsed, composer = ctx.parsed, ctx.services.composer
    if parsed.message_id and composer.is_ours(parsed.message_id):
        raise Stop("own_mail")
    if is_bounce(parsed):
        raise Stop(_record_bounce(ctx))
    ours = ctx.services.settings.our_addresses() | {composer.sender_address.lower()}
    ctx.suppressed = suppression_reason(parsed, ours, ctx.raw.raw)
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
