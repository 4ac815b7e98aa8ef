"""Read a Maildir directory (a local mail store, or the shipped demo mailbox).

Messages are left where they are: the database remembers which files were taken, so a
read-only or shared Maildir works, and re-reading it adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ingestd.config import MaildirConfig
from ingestd.errors import SourceError
from ingestd.sources.delivery import Delivery

MAILDIR_UIDVALIDITY = 0  # a Maildir file name never changes meaning


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
                           uidvalidity=MAILDIR_UIDVALIDITY, uid=key)

    def _files(self) -> list[Path]:
        root = Path(self.config.path)
        if not (root / "new").is_dir() and not (root / "cur").is_dir():
            raise SourceError(f"maildir {self.config.name!r}: {root} is not a Maildir "
                              "(it needs new/ and cur/ folders); check [[maildir]] path")
        files = [p for sub in ("new", "cur") if (root / sub).is_dir()
                 for p in (root / sub).iterdir() if p.is_file() and not p.name.startswith(".")]
        return sorted(files, key=lambda p: p.name)
