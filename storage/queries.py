"""The queries several parts of ingestd need, behind names.

A count that the pipeline asks for every new case must also count the rows its own batch
has not written yet (``storage.pending``). Each count is therefore stated once, as
conditions on columns, and both its SQL and the test for rows not written yet are made
from them: they cannot drift apart.

The pipeline asks five counts a new case, so each is made cheap: its SQL is compiled once
per database and runs on the driver's cursor (through the ORM it cost 120 µs, on the
cursor 20), and a batch's queued rows are tested once per count and value (who it is
about) rather than again for every case.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Dialect, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from storage.pending import pending_rows
from storage.schema import Base, Case, CaseMessage, Outbox

ACK_KINDS = ("acknowledgment", "acknowledgment_urgent")  # outbox kinds that acknowledge
# outbox kinds the team caps count: mail to the team and to agents about cases
TEAM_KINDS = ("team_notification", "escalation", "assigned", "customer_replied")
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<": operator.lt,
}


@dataclass(frozen=True)
class Param:
    """A condition's value given when the count runs."""

    name: str


Condition = tuple[str, str, Any]  # column, "==" | "!=" | ">=" | "<" | "in", Param or constant


class Count:
    """``SELECT count(*)`` of a model under conditions, with the same test in Python.

    A ">=" condition on a parameter is the count's window (the last hour, the last 30
    days); the others say whom it counts.
    """

    def __init__(self, model: type[Base], *conditions: Condition) -> None:
        self.model, self.conditions = model, conditions
        # Built once: building a statement costs more than running it (350 against 150 µs).
        self.statement: Select[Any] = select(func.count()).select_from(model).where(
            *(self._sql(condition) for condition in conditions))
        self._compiled: dict[tuple[str, str], _Compiled] = {}  # by database and driver
        windows = [(c, v.name) for c, op, v in conditions if op == ">=" and isinstance(v, Param)]
        self._window = windows[0] if len(windows) == 1 else None
        self._fixed = tuple(c for c in conditions if self._window is None or
                            c[1:] != (">=", Param(self._window[1])))

    def _sql(self, condition: Condition) -> ColumnElement[bool]:
        column, op, value = condition
        attribute = getattr(self.model, column)
        if op == "in":  # ORs of equalities: SQLAlchemy renders an IN list again at every run
            return or_(*(attribute == item for item in value))
        right = bindparam(value.name) if isinstance(value, Param) else value
        return _COMPARE[op](attribute, right)  # type: ignore[no-any-return]  # a SQL clause

    def matches(self, row: Any, params: dict[str, Any]) -> bool:
        """The conditions, read on an unflushed object or a queued row."""
        return _matches(self.conditions, row, params)

    def __call__(self, session: Session, **params: Any) -> int:
        """The count over the whole transaction, rows not written yet included.

        Those are the session's unflushed objects and the rows queued with new cases
        (``storage.pending``). The query runs on the session's connection: a count needs
        none of the ORM's execution, which costs more than the query itself.
        """
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._compiled.get((dialect.name, dialect.driver))
        if compiled is None:
            compiled = self._compiled[dialect.name, dialect.driver] = _Compiled(
                self.statement, dialect)
        written = compiled.scalar(connection, params)
        unflushed = sum(1 for obj in session.new
                        if isinstance(obj, self.model) and self.matches(obj, params))
        whom = tuple(params[v.name] for _c, _op, v in self._fixed if isinstance(v, Param))
        queued = pending_rows(session).matching(
            self.model, (id(self), whom), lambda row: _matches(self._fixed, row, params))
        if self._window is not None:
            column, name = self._window
            queued = [row for row in queued if getattr(row, column) >= params[name]]
        return written + unflushed + len(queued)


def _matches(conditions: tuple[Condition, ...], row: Any, params: dict[str, Any]) -> bool:
    for column, op, value in conditions:
        actual = getattr(row, column)
        wanted = params[value.name] if isinstance(value, Param) else value
        if not (actual in wanted if op == "in" else _COMPARE[op](actual, wanted)):
            return False
    return True


class _Compiled:
    """A count's SQL for one database, run on the driver's cursor with the parameters
    converted as SQLAlchemy converts them (a UTC datetime into SQLite's text, say)."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = compiled.positiontup  # the parameters' order, for a positional driver
        self.constants = {name: bind.effective_value for name, bind in compiled.binds.items()
                          if not bind.required}  # the literals; the rest come with each run
        self.converters = {
            name: converter for name, bind in compiled.binds.items()
            if (converter := bind.type.dialect_impl(dialect).bind_processor(dialect))}

    def scalar(self, connection: Connection, params: dict[str, Any]) -> int:
        values = {**self.constants, **params}
        for name, convert in self.converters.items():
            values[name] = convert(values[name])
        cursor = connection.connection.cursor()
        try:
            cursor.execute(self.sql, [values[n] for n in self.names] if self.names is not None
                           else values)
            row = cursor.fetchone()
            return int(row[0] or 0) if row else 0
        finally:
            cursor.close()


_RECENT_COMPLAINTS = Count(Case, ("customer_address", "==", Param("address")),
                           ("id", "!=", Param("case_id")), ("received_at", ">=", Param("since")))
_ACKNOWLEDGMENTS = Count(Outbox, ("sender_key", "==", Param("sender_key")),
                         ("kind", "in", ACK_KINDS), ("created_at", ">=", Param("since")))
_ALL_ACKNOWLEDGMENTS = Count(Outbox, ("kind", "in", ACK_KINDS),
                             ("created_at", ">=", Param("since")))
_TEAM_MAILS = Count(Outbox, ("recipient", "==", Param("recipient")), ("kind", "in", TEAM_KINDS),
                    ("created_at", ">=", Param("since")))
_TEAM_MAILS_ABOUT = Count(Outbox, ("recipient", "==", Param("recipient")),
                          ("sender_key", "==", Param("sender_key")), ("kind", "in", TEAM_KINDS),
                          ("created_at", ">=", Param("since")))
_IN_CATEGORY = Count(Case, ("category", "==", Param("category")),
                     ("received_at", ">=", Param("start")), ("received_at", "<", Param("end")))


def complaints_since(session: Session, address: str | None, since: datetime, *,
                     other_than: int) -> int:
    """Cases opened by ``address`` since ``since``, the case ``other_than`` left out."""
    return _RECENT_COMPLAINTS(session, address=address, case_id=other_than, since=since)


def acknowledgments_since(session: Session, sender_key: str, since: datetime) -> int:
    """Acknowledgments queued for the sender ``sender_key`` (normalised) since ``since``."""
    return _ACKNOWLEDGMENTS(session, sender_key=sender_key, since=since)


def all_acknowledgments_since(session: Session, since: datetime) -> int:
    """Acknowledgments queued for anyone since ``since`` (the overall flood cap's count)."""
    return _ALL_ACKNOWLEDGMENTS(session, since=since)


def team_mails_since(session: Session, recipient: str, since: datetime,
                     sender_key: str | None = None) -> int:
    """Team notifications and escalation mails to ``recipient`` since ``since``; with
    ``sender_key``, only those about that sender's cases."""
    if sender_key is None:
        return _TEAM_MAILS(session, recipient=recipient, since=since)
    return _TEAM_MAILS_ABOUT(session, recipient=recipient, sender_key=sender_key, since=since)


def cases_in_category(session: Session, category: str, start: datetime, end: datetime) -> int:
    """Cases of ``category`` received in [start, end)."""
    return _IN_CATEGORY(session, category=category, start=start, end=end)


def case_by_reference(session: Session, reference: str) -> Case | None:
    """The case with this reference (``CMP-2026-000042``; brackets and case are forgiven)."""
    return session.scalar(select(Case).where(Case.reference == reference.strip("[]").upper()))


def latest_inbound(session: Session, case: Case) -> CaseMessage | None:
    """The customer's latest mail on ``case``: what a reply or a follow-up answers."""
    return session.scalar(select(CaseMessage).where(
        CaseMessage.case_id == case.id, CaseMessage.direction == "in")
        .order_by(CaseMessage.id.desc()).limit(1))
