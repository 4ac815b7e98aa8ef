"""What a pipeline step gets: the message in hand and the services it may use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from ingestd.config import Settings
from ingestd.errors import ConfigError
from ingestd.mailout import Composer
from ingestd.message import ParsedMessage
from ingestd.pipeline.prepare import Preparer
from ingestd.procedure import BusinessCalendar
from ingestd.worker import Prepared, share
from storage import Case

if TYPE_CHECKING:
    from triage import Classifier, TriageResult


class Stop(Exception):
    """A step ends the flow for this message on purpose; `outcome` says why."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class ModelHolder:
    """The classifier in service; swapped whole when a new model is promoted."""

    def __init__(self, path: Path, review_threshold: float = 0.5) -> None:
        self.path = path
        self.review_threshold = review_threshold
        self._lock = threading.Lock()
        self._model: Classifier | None = None
        self._mtime = 0.0

    def get(self) -> Classifier:
        with self._lock:
            if self._model is None:
                self._load()
            assert self._model is not None  # noqa: S101  (set by _load or it raised)
            return self._model

    def reload_if_changed(self) -> bool:
        """Load the model file again when it changed on disk; True when it did."""
        with self._lock:
            if self._model is not None and self.path.stat().st_mtime == self._mtime:
                return False
            self._load()
            return True

    @property
    def stamp(self) -> float:
        """The modification time of the model file in service (0 before it is loaded)."""
        return self._mtime

    def _load(self) -> None:
        from triage import Classifier  # noqa: PLC0415  (scikit-learn loads only when needed)

        if not self.path.is_file():
            raise ConfigError(f"no triage model at {self.path}; set [triage] model or train "
                              "one with: ingestd train --promote")
        self._mtime = self.path.stat().st_mtime
        self._model = Classifier.load(self.path, review_threshold=self.review_threshold)
        share(str(self.path), self._mtime, self._model)  # a forked worker needs no second load


@dataclass
class Services:
    """Long-lived collaborators of the pipeline, built once per process."""

    settings: Settings
    factory: sessionmaker[Session]
    composer: Composer
    model: ModelHolder
    calendar: BusinessCalendar
    clock: Callable[[], datetime]
    preparer: Preparer = field(default_factory=lambda: Preparer(0))

    def close(self) -> None:
        self.preparer.close()


@dataclass(frozen=True)
class Claimed:
    """A pending raw message as the steps see it.

    Its columns, not an ORM object, so that a batch writes every message's new state in
    one statement at its end.
    """

    id: int
    source: str
    folder: str
    uid: str | None
    raw: bytes | None
    received_at: datetime


@dataclass
class Context:
    """One message on its way through the steps."""

    session: Session
    services: Services
    raw: Claimed
    prepared: Prepared | None = None
    parsed: ParsedMessage = field(init=False)
    case: Case | None = None
    new_case: bool = False
    suppressed: str | None = None
    triage: TriageResult | None = None
    outcome: str = "new_case"
    flags: list[str] = field(default_factory=list)
