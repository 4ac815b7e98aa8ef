"""What every command needs, built once per process from the configuration: the settings,
the database, the model in service, the clock, the business calendar, the composer of
outgoing mail and the worker pool. (The sender, which records on the case what it sent, is
built by ``ingestd.casework.build_sender``.)

It sits below the pipeline, the procedure, case work and the commands, which all take a
``Services``; it knows none of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ingestd.config import Settings, require_model
from ingestd.errors import StorageError
from ingestd.mailout import Composer
from ingestd.pool import Preparer, build_preparer, stamp_of
from ingestd.procedure.calendar import BusinessCalendar
from ingestd.worker import share
from storage import is_current, make_engine, sessions, setting, utcnow

if TYPE_CHECKING:
    from triage import Classifier


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

    @property
    def loaded(self) -> bool:
        """True once this process holds the model (the daemon loads it as it starts; `run
        --once` leaves it to the workers, and loads it here only when a step needs it)."""
        return self._model is not None

    def serves(self, stamp: float | None) -> bool:
        """True when scores made with the model file as of `stamp` are the service's: the
        model loaded here, or with none loaded yet, the file as it is now."""
        if self._model is not None:
            return stamp == self._mtime
        return stamp is not None and stamp == stamp_of(self.path)

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

        require_model(self.path)
        self._mtime = self.path.stat().st_mtime
        self._model = Classifier.load(self.path, review_threshold=self.review_threshold)
        # a forked worker needs no second load
        share((str(self.path), self._mtime, self.review_threshold), self._model)


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


def open_database(settings: Settings, *, check_schema: bool = True) -> Engine:
    """An engine on the configured database, refusing an unreachable or outdated one."""
    engine = make_engine(settings.database.url, echo=settings.database.echo)
    if not check_schema:
        return engine
    try:
        current = is_current(engine)
    except SQLAlchemyError as exc:
        raise StorageError(f"database {engine.url.render_as_string(hide_password=True)}: "
                           f"cannot connect ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                           "check [database] url or INGESTD_DATABASE_URL") from None
    if not current:
        raise StorageError("the database schema is not up to date; run: ingestd db upgrade")
    return engine


def build_services(settings: Settings, engine: Engine,
                   clock: Callable[[], datetime] = utcnow) -> Services:
    factory = sessions(engine)
    with factory() as session:
        key = setting(session, "message_id_key")
    if key is None:
        raise StorageError("the database has no installation key; run: ingestd db upgrade")
    composer = Composer(settings.templates, settings.smtp.from_, key,
                        settings.limits.header_line_chars)
    return Services(settings=settings, factory=factory, composer=composer,
                    model=ModelHolder(settings.triage.model, settings.triage.review_threshold),
                    calendar=BusinessCalendar.from_config(settings.calendar), clock=clock,
                    preparer=build_preparer(settings.daemon.workers,
                                            settings.triage.review_threshold))
