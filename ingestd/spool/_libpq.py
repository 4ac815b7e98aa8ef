"""Keep a piped mail in PostgreSQL through libpq itself, called with ctypes.

psycopg costs 0.2 s of imports per process (its adapters, errors and asyncio), more than the
whole pipe may take; the four libpq calls needed here cost nothing to load. The library is
the one psycopg[binary] ships (the daemon's own), else the system's libpq.so.5. One
statement inserts the row and queues the NOTIFY, so both commit together or not at all.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from pathlib import Path

from ingestd.errors import TemporaryFailure
from ingestd.spool._common import AGAIN, CHANNEL, PIPED

CONNECTION_OK, PGRES_TUPLES_OK = 0, 2
INSERT = (b"WITH kept AS (INSERT INTO raw_message "
          b"(source, folder, dedup_key, size, raw, received_at, state) "
          b"VALUES ($1, '', '', $2, $3, $4, $5) RETURNING id) "
          b"SELECT id, pg_notify('" + CHANNEL.encode() + b"', id::text) FROM kept")
CONNECT_TIMEOUT = "10"  # seconds; libpq would otherwise wait for an unreachable host forever


def keep_postgresql(uri: str, raw: bytes, source: str, now: str) -> int:
    """Commit the row and its NOTIFY in one statement; its id, or TemporaryFailure."""
    libpq = _load()
    conn = libpq.PQconnectdb(_with_timeout(uri).encode())
    try:
        if libpq.PQstatus(conn) != CONNECTION_OK:
            raise TemporaryFailure(f"cannot connect to PostgreSQL ({_error(libpq, conn)}); "
                                   f"{AGAIN}")
        return _insert(libpq, conn, raw, source, now)
    finally:
        libpq.PQfinish(conn)


def _insert(libpq: ctypes.CDLL, conn: int, raw: bytes, source: str, now: str) -> int:
    values = [source.encode(), str(len(raw)).encode(), raw, now.encode(), PIPED.encode()]
    params = (ctypes.c_char_p * 5)(*values)
    lengths = (ctypes.c_int * 5)(*(len(v) for v in values))
    formats = (ctypes.c_int * 5)(0, 0, 1, 0, 0)  # the mail goes as binary bytea
    result = libpq.PQexecParams(conn, INSERT, 5, None, params, lengths, formats, 0)
    try:
        if libpq.PQresultStatus(result) != PGRES_TUPLES_OK:
            message = libpq.PQresultErrorMessage(result) or libpq.PQerrorMessage(conn)
            raise TemporaryFailure(f"cannot store the message ({_text(message)}); {AGAIN}")
        return int(libpq.PQgetvalue(result, 0, 0))
    finally:
        libpq.PQclear(result)


def _with_timeout(uri: str) -> str:
    if "connect_timeout=" in uri:
        return uri
    return uri + ("&" if "?" in uri else "?") + "connect_timeout=" + CONNECT_TIMEOUT


def _error(libpq: ctypes.CDLL, conn: int) -> str:
    return _text(libpq.PQerrorMessage(conn)) or "no connection"


def _text(message: bytes | None) -> str:
    lines = (message or b"").decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else ""


def _load() -> ctypes.CDLL:
    try:
        libpq = ctypes.CDLL(_library())
    except OSError as exc:
        raise TemporaryFailure(f"cannot load libpq ({exc}); {AGAIN}") from None
    _declare(libpq)
    return libpq


def _library() -> str:
    """psycopg_binary's bundled libpq (found without importing psycopg), else the system's."""
    spec = importlib.util.find_spec("psycopg_binary")
    if spec is not None and spec.origin is not None:
        libs = Path(spec.origin).parent.parent / "psycopg_binary.libs"
        found = sorted(libs.glob("libpq-*.so*")) if libs.is_dir() else []
        if found:
            return os.fspath(found[0])
    return "libpq.so.5"


def _declare(libpq: ctypes.CDLL) -> None:
    handle, text = ctypes.c_void_p, ctypes.c_char_p
    signatures: dict[str, tuple[object, list[object]]] = {
        "PQconnectdb": (handle, [text]),
        "PQstatus": (ctypes.c_int, [handle]),
        "PQerrorMessage": (text, [handle]),
        "PQexecParams": (handle, [handle, text, ctypes.c_int, handle,
                                  ctypes.POINTER(text), ctypes.POINTER(ctypes.c_int),
                                  ctypes.POINTER(ctypes.c_int), ctypes.c_int]),
        "PQresultStatus": (ctypes.c_int, [handle]),
        "PQresultErrorMessage": (text, [handle]),
        "PQgetvalue": (text, [handle, ctypes.c_int, ctypes.c_int]),
        "PQclear": (None, [handle]),
        "PQfinish": (None, [handle]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(libpq, name)
        function.restype, function.argtypes = restype, argtypes
