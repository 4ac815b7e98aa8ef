"""Keep a piped mail in a SQLite database with the standard library's sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from ingestd.errors import TemporaryFailure
from ingestd.spool._common import AGAIN, PIPED, wake_fifo

INSERT = ("INSERT INTO raw_message (source, folder, dedup_key, size, raw, received_at, state) "
          "VALUES (?, '', '', ?, ?, ?, ?)")


def keep_sqlite(path: str, raw: bytes, source: str, now: str) -> int:
    """Commit the row with a full sync (power loss included), then wake the daemon."""
    if not Path(path).is_file():
        raise TemporaryFailure(f"no database at {path}; run `ingestd db upgrade` ({AGAIN})")
    try:
        row = _insert(path, raw, source, now)
    except sqlite3.Error as exc:
        raise TemporaryFailure(f"cannot store the message in {path} "
                               f"({type(exc).__name__}: {exc}); {AGAIN}") from None
    wake_fifo(path)
    return row


def _insert(path: str, raw: bytes, source: str, now: str) -> int:
    # mode=rw: never create an empty database file where the real one is missing
    connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=30,
                                 isolation_level=None)
    try:
        # FULL, not the daemon's NORMAL: the MTA forgets the mail once this commit returns
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("BEGIN IMMEDIATE")
        cursor = connection.execute(INSERT, (source, len(raw), raw, now, PIPED))
        connection.execute("COMMIT")
        return int(cursor.lastrowid or 0)
    finally:
        connection.close()
