"""Alembic environment: the engine comes from ingestd, never from an ini file."""

from typing import Any

from alembic import context

from storage.schema import Base

# Objects migration 0003 creates outside the ORM (full-text search, the generated next
# deadline): not the ORM's to compare.
_BY_HAND = {"search", "ix_case_search", "next_due", "ix_case_next_due_status"}


def include_object(_obj: Any, name: str | None, _type: str, _reflected: bool,
                   _compare_to: Any) -> bool:
    return not (name is not None and (name in _BY_HAND or name.startswith("case_fts")))


engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, compare_type=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
