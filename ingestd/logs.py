"""Structured logs: JSON lines under systemd or in a pipe, readable lines in a terminal.

Logs carry message metadata only, never bodies (SPEC: privacy).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import EventDict

from ingestd.terminal import terminal_text

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog once per process; `stream` defaults to stdout."""
    out = stream or sys.stdout
    json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            *([] if json else [_inert]),  # JSON escapes control characters itself
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def _inert(_logger: object, _name: str, event: EventDict) -> EventDict:
    """Values quoted from mail (an error naming a header, say) cannot drive the terminal."""
    return {k: terminal_text(v) if isinstance(v, str) else v for k, v in event.items()}
