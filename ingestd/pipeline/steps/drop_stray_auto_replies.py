"""Step: an out-of-office answer to no case of ours opens no case (it is kept, not lost)."""

from __future__ import annotations

from ingestd.pipeline.context import Context, Stop
from ingestd.pipeline.loops import is_auto_reply
from storage import Suppression


def drop_stray_auto_replies(ctx: Context) -> None:
    """Step: an out-of-office answer to no case of ours opens no case (it is kept, not lost)."""
    if ctx.case is None and is_auto_reply(ctx.parsed):
        ctx.session.add(Suppression(raw_message_id=ctx.raw.id, sender=ctx.parsed.sender_address,
                                    reason=ctx.suppressed or "auto-reply",
                                    at=ctx.services.clock()))
        raise Stop("auto_reply_ignored")
