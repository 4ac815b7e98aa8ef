"""Engines and sessions for SQLite (one box) and PostgreSQL (several instances)."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Integer, create_engine, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapper, Session, sessionmaker

from storage.ops import next_id
from storage.pending import write_pending_rows
from storage.schema import Setting

if TYPE_CHECKING:  # alembic loads when the schema is checked or migrated (0.3 s of start)
    from alembic.config import Config as AlembicConfig

READ_ONLY = "ingestd_read_only"  # execution option of a `reading` session
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine tuned per backend: WAL and a busy timeout on SQLite, pre-ping on PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_file(Path(parsed.database))
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _private_sqlite_file(path: Path) -> None:
    """Create a missing database file 0600 (its folders 0700) before SQLite does.

    The file holds every customer's mail; SQLite gives its -wal and -shm files the same
    mode. A file or folder that exists keeps the mode its admin chose, and a folder the
    admin shared with a group (setgid, as the unit's state folder) gets a file that group
    may write: agents in it work cases from the CLI.
    """
    for folder in reversed([p for p in path.parents if not p.exists()]):
        with suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            folder.chmod(0o700)  # mkdir's mode is narrowed by the umask, never widened
    mode = 0o660 if path.parent.stat().st_mode & stat.S_ISGID else 0o600
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        path.chmod(mode)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun below, not by pysqlite
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA secure_delete=ON")  # erased and purged data leaves no trace in the file
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock at the start: two processes never work the same rows.

    A `reading` session only reads: it begins deferred and never holds the lock.
    """
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def sessions(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite":
        event.listen(factory, "before_flush", _number_new_rows)
    event.listen(factory, "after_flush", write_pending_rows)
    return factory


def _number_new_rows(session: Session, _context: object, _instances: object) -> None:
    """Give new rows their ids before SQLite is asked to, so a flush inserts them in batches.

    SQLite cannot say which generated id belongs to which row of a multi-row INSERT, so the
    ORM inserts rows waiting for an id one statement each (several per new case). The ids
    come from `next_id`, as SQLite itself would choose them; rows with an id go in one
    executemany.
    """
    waiting: dict[Mapper[Any], list[Any]] = {}
    for obj in session.new:
        mapper = inspect(obj).mapper
        key = mapper.primary_key[0]
        generated = len(mapper.primary_key) == 1 and (key.autoincrement is True or (
            key.autoincrement == "auto" and isinstance(key.type, Integer)))
        if generated and getattr(obj, mapper.get_property_by_column(key).key) is None:
            waiting.setdefault(mapper, []).append(obj)
    for mapper, objs in waiting.items():
        name = mapper.get_property_by_column(mapper.primary_key[0]).key
        for obj in sorted(objs, key=lambda o: inspect(o).insert_order):
            setattr(obj, name, next_id(session, mapper.class_))


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that only reads, and holds no write lock while it does (SQLite's WAL
    lets writers go on); what it read is released at the end."""
    with factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session
        session.rollback()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415  (see above)

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration and make sure installation settings exist."""
    from alembic import command  # noqa: PLC0415  (see the imports)

    command.upgrade(alembic_config(engine), "head")
    with transaction(sessions(engine)) as session:
        _ensure_setting(session, "message_id_key", secrets.token_hex(32))


def is_current(engine: Engine) -> bool:
    """True when the database has every migration applied."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415  (see the imports)
    from alembic.script import ScriptDirectory  # noqa: PLC0415  (see the imports)

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


def _ensure_setting(session: Session, key: str, value: str) -> None:
    if session.get(Setting, key) is None:
        session.add(Setting(key=key, value=value))


def setting(session: Session, key: str) -> str | None:
    return session.scalar(select(Setting.value).where(Setting.key == key))
