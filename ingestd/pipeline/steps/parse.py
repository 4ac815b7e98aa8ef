"""Step: parse the raw bytes (unless a worker did); a mail must start with a header."""

from __future__ import annotations

from ingestd.pipeline.context import Context
from ingestd.worker import parse_raw


def parse(ctx: Context) -> None:
    """Step: parse the raw bytes (unless a worker did); a mail must start with a header."""
    prepared = ctx.prepared
    if prepared is not None and prepared.parsed is not None:
        ctx.parsed = prepared.parsed
    else:
        ctx.parsed = parse_raw(ctx.raw.raw or b"")
