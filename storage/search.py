"""Full-text search over cases: subject, description and customer (name and address).

Migration 0003 builds the index: an FTS5 table `case_fts` on SQLite (kept by triggers), a
stored tsvector `case.search` with a GIN index on PostgreSQL. Both split text into words
without stemming; a search matches the cases holding every word given, each as the start of
a word ("refund" finds "refunded"), whatever the case or accents (on SQLite).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, literal_column, select, text
from sqlalchemy.orm import Session

from storage.schema import Case

MAX_WORDS = 12  # more words narrow nothing down and only slow the index
_WORD = re.compile(r"[^\W_]+")  # letters and digits, as both indexes split words


def words(query: str) -> list[str]:
    """The words of a search as the index splits text (punctuation and `@` separate)."""
    return _WORD.findall(query.lower())[:MAX_WORDS]


def matches(session: Session, query: str) -> ColumnElement[bool] | None:
    """A condition on `Case` true for cases holding every word of `query`; None when the
    query has no words (nothing to narrow by)."""
    found = words(query)
    if not found:
        return None
    if session.get_bind().dialect.name == "sqlite":
        expression = " AND ".join(f'"{w}"*' for w in found)  # words hold no quote
        ids: Select[Any] = select(literal_column("rowid")).select_from(text("case_fts")).where(
            text("case_fts MATCH :fts_query").bindparams(fts_query=expression))
        return Case.id.in_(ids)
    expression = " & ".join(f"{w}:*" for w in found)
    return literal_column('"case".search').op("@@")(
        text("to_tsquery('simple', :fts_query)").bindparams(fts_query=expression))


def merge_search_index(engine: Engine) -> None:
    """SQLite: merge the full-text index into one segment, dropping every word of the texts
    changed or deleted since (FTS5 keeps them until a merge). PostgreSQL needs nothing."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO case_fts(case_fts) VALUES ('optimize')")
