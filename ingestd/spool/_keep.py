"""Commit one piped mail and wake the daemon: the whole of a lean `ingestd deliver`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from ingestd.errors import TemporaryFailure
from ingestd.spool._common import AGAIN
from ingestd.spool._where import SQLITE, database_url


def keep(url: str, raw: bytes, source: str) -> int:
    """Commit `raw` as a piped raw message and wake the daemon; its id, or TemporaryFailure."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores UTC
    if url.startswith(SQLITE):
        from ingestd.spool._sqlite import keep_sqlite  # noqa: PLC0415  (one backend's imports)

        return keep_sqlite(url[len(SQLITE):].split("?", 1)[0], raw, source, now)
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+", 1)[0] in ("postgresql", "postgres"):
        from ingestd.spool._libpq import keep_postgresql  # noqa: PLC0415  (one backend's imports)

        return keep_postgresql("postgresql://" + rest, raw, source, now + "+00")
    raise TemporaryFailure(f"[database] url {scheme}://...: neither sqlite nor postgresql; "
                           f"check the config file ({AGAIN})")


def deliver_main(config_file: str, source: str) -> int:
    """`ingestd --config FILE deliver`: the mail on standard input kept; the exit status."""
    try:
        raw = sys.stdin.buffer.read()
    except OSError as exc:
        return _say(f"cannot read standard input ({exc}); {AGAIN}", 75)
    if not raw.strip():
        return _say("no message on standard input", 2)
    try:
        row = keep(database_url(config_file), raw, source)
    except TemporaryFailure as exc:
        return _say(str(exc), exc.exit_code)
    except Exception as exc:  # noqa: BLE001  (any doubt: the MTA keeps the mail and retries)
        return _say(f"cannot store the message ({type(exc).__name__}: {exc}); {AGAIN}", 75)
    return _say(f"stored as raw message {row}; the running daemon takes it from here", 0)


def _say(line: str, status: int) -> int:
    print(f"ingestd: {line}", file=sys.stderr)
    return status
