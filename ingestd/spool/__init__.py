"""The MTA pipe's fast path: keep one mail's raw bytes durably, wake the daemon, exit.

`ingestd deliver` runs once per mail, so what it imports is what every mail pays: here only
the standard library (and libpq through ctypes on PostgreSQL), never SQLAlchemy, the model
or the sender. The mail is committed as a `piped` raw row (bytes, source, arrival time);
the running daemon hears of it at once (PostgreSQL NOTIFY on `CHANNEL`, or a byte in the
FIFO beside a SQLite file), deduplicates it like every other source's mail
(`ingestd.intake.admit_piped`) and processes it. Anything short of a committed row exits 75,
so the MTA keeps the mail and tries again; a retry after a doubtful commit is caught by
that deduplication.
"""

from ingestd.spool._common import CHANNEL, PIPED, wake_path
from ingestd.spool._keep import deliver_main, keep

__all__ = ["CHANNEL", "PIPED", "deliver_main", "keep", "wake_path"]
