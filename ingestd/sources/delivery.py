"""What a source hands over: one mail as it found it, with where and when it arrived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Delivery:
    """One mail as a source found it; `arrived_at` is when the server says it came in.

    `arrival_certain`: `arrived_at` is the time the MTA delivered it (a Maildir file), not a
    date a mail client may have set (an IMAP APPEND), so it counts even for a first read."""

    source: str
    raw: bytes
    folder: str = ""
    uidvalidity: int | None = None
    uid: str | None = None
    arrived_at: datetime | None = None
    arrival_certain: bool = False
