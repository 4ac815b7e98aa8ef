"""Step: parse the raw bytes (unless a worker did); a mail must start with a header."""

from __future__ import annotations

from ingestd.pipeline.context import Context
from ingestd.worker import parse_raw


def parse(ctx: Context) -> None:
    """Step: parse the raw bytes (unless a worker did); a mail must start with a header."""
    prepared = ctx.prepared
    if prepared is not None and prepared.error is not None:
        raise prepared.error  # read once already (over its time budget, say): not again
    if prepared is not None and prepared.parsed is not None:
        ctx.parsed = prepared.parsed
    else:
        ctx.parsed = parse_raw(ctx.raw.raw or b"", ctx.services.settings.limits.parse_limits())
    ctx.flags.extend(f"limit:{name}" for name in ctx.parsed.over_limits)
