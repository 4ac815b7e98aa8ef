"""Read a Maildir directory (a local mail store, or the shipped demo mailbox).

Messages are left where they are: the database remembers which files were taken, so a
read-only or shared Maildir works, and re-reading it adds nothing.

A message arrived when the MTA delivered the file: the leading timestamp of a Maildir file
name (``1795420800.M000P1.host``), else the file's modification time. Its service-level
clocks and its month in the report count from then, not from when ingestd read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ingestd.config import MaildirConfig
from ingestd.errors import SourceError
from ingestd.sources.delivery import Delivery

MAILDIR_UIDVALIDITY = 0  # a Maildir file name never changes meaning
# time.unique.host, the time in seconds since 1970; shorter numbers ("1.eml") are not times
_DELIVERY_TIME = re.compile(r"^(\d{9,11})(?:_\d+)?\.[^.]+\.")


class MaildirSource:
    def __init__(self, config: MaildirConfig) -> None:
        self.config = config

    def deliveries(self, known: set[str]) -> Iterator[Delivery]:
        """Every message file not in `known`, in file-name (delivery time) order."""
        for path in self._files():
            key = path.name.split(":", 1)[0]
            if key in known:
                continue
            yield Delivery(source=self.config.name, raw=path.read_bytes(), folder="",
                           uidvalidity=MAILDIR_UIDVALIDITY, uid=key,
                           arrived_at=delivered_at(path), arrival_certain=True)

    def _files(self) -> list[Path]:
        root = Path(self.config.path)
        if not (root / "new").is_dir() and not (root / "cur").is_dir():
            raise SourceError(f"maildir {self.config.name!r}: {root} is not a Maildir "
                              "(it needs new/ and cur/ folders); check [[maildir]] path")
        files = [p for sub in ("new", "cur") if (root / sub).is_dir()
                 for p in (root / sub).iterdir() if p.is_file() and not p.name.startswith(".")]
        return sorted(files, key=lambda p: p.name)


def delivered_at(path: Path) -> datetime:
    """When the MTA delivered this file: its name's leading timestamp, else its mtime."""
    match = _DELIVERY_TIME.match(path.name)
    seconds = int(match.group(1)) if match else path.stat().st_mtime
    return datetime.fromtimestamp(seconds, UTC)
