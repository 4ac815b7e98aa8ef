"""Alembic environment: the engine comes from ingestd, never from an ini file."""

from typing import Any

from alembic import context

from storage.schema import Base

# Full-text search objects the migrations create by hand (0003): not the ORM's to compare.
_BY_HAND = {"search", "ix_case_search"}


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
