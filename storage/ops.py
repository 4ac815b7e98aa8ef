"""Small database operations that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


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
