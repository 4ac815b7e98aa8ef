"""Small database operations that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.schema import Base

T = TypeVar("T")


def insert_ignore(session: Session, table: Table, values: dict[str, Any]) -> bool:
    """INSERT unless a unique key already holds the row; True when the row was inserted."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).values(**values).on_conflict_do_nothing()
    # rowcount is not reliable here (psycopg 3 reports -1); RETURNING says it for sure.
    inserted = session.execute(statement.returning(*table.primary_key.columns)).first()
    return inserted is not None


def insert_ignore_many(session: Session, table: Table, rows: list[dict[str, Any]],
                       returning: str) -> set[Any]:
    """INSERT each row unless a unique key already holds it, in one statement.

    Returns the values of column `returning` of the rows inserted; of rows that collide with
    each other only the first is inserted.
    """
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).values(rows).on_conflict_do_nothing()
    statement = statement.returning(table.c[returning])
    return set(session.scalars(statement))


def once_per_transaction(session: Session, key: str, compute: Callable[[], T]) -> T:
    """`compute()` the first time in the session's current transaction, the same value after.

    For values a batch needs for every message that its own writes cannot change (or change
    only in ways the caller accepts), so one query serves the whole transaction. A None
    (nothing known yet) is not kept: the next call asks again.
    """
    transaction = session.get_transaction()
    known = session.info.get(key)
    if known is not None and known[0] is transaction:
        return cast(T, known[1])
    value = compute()
    if value is not None:
        session.info[key] = (transaction, value)
    return value


@functools.cache
def _nextval(table: str) -> Select[tuple[int]]:
    """The statement drawing `table`'s next id on PostgreSQL, built once per table."""
    return select(func.nextval(func.pg_get_serial_sequence(f'"{table}"', "id")))


def next_id(session: Session, model: type[Base]) -> int:
    """The id the next row of `model`'s table will get, taken before the INSERT.

    So a row's id can be used (in a reference number, say) without a flush and an UPDATE.
    PostgreSQL draws it from the column's sequence; on SQLite the writing transaction holds
    the database's write lock (BEGIN IMMEDIATE), so the next id is the largest one plus one,
    as SQLite's own choice would be, and the transaction's later ones count on from there
    without asking again. Every new ORM row on SQLite takes its id here (a `before_flush`
    hook, `storage.db`), so nothing else in the transaction picks one behind its back. As
    with a sequence, an id taken by work that was then rolled back is not reused.
    """
    table = cast(Table, model.__table__)
    if session.get_bind().dialect.name == "postgresql":
        # on the connection: the sequence does not depend on rows not written yet
        return int(session.connection().scalar(_nextval(table.name)))
    ids = once_per_transaction(session, f"next_id:{table.name}", lambda: itertools.count(
        int(session.scalar(select(func.max(table.c.id))) or 0) + 1))
    return next(ids)
