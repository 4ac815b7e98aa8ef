"""Build what a command needs from the configuration: engine, services, sender."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ingestd.config import Settings
from ingestd.errors import StorageError
from ingestd.instance import instance
from ingestd.mailout import Composer
from ingestd.mailout.sender import Sender
from ingestd.pipeline import ModelHolder, Services
from ingestd.pipeline.prepare import Preparer, default_workers
from ingestd.procedure import BusinessCalendar
from storage import is_current, make_engine, sessions, setting, utcnow


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
    composer = Composer(settings.templates, settings.smtp.from_, key)
    return Services(settings=settings, factory=factory, composer=composer,
                    model=ModelHolder(settings.triage.model, settings.triage.review_threshold),
                    calendar=BusinessCalendar.from_config(settings.calendar), clock=clock,
                    preparer=Preparer(default_workers() if settings.daemon.workers is None
                                      else settings.daemon.workers))


def build_sender(services: Services) -> Sender:
    return Sender(services.settings.smtp, services.factory, services.clock, instance())
