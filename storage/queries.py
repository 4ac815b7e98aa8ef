"""The queries several parts of ingestd need, behind names.

A count that the pipeline asks for every new case must also count the rows its own batch
has not written yet (``storage.pending``). Each count is therefore stated once, as
conditions on columns, and both its SQL and the test for rows not written yet are made
from them: they cannot drift apart.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from storage.pending import count_with_pending
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
    """``SELECT count(*)`` of a model under conditions, with the same test in Python."""

    def __init__(self, model: type[Base], *conditions: Condition) -> None:
        self.model, self.conditions = model, conditions
        # Built once: building a statement costs more than running it (350 against 150 µs).
        self.statement: Select[Any] = select(func.count()).select_from(model).where(
            *(self._sql(condition) for condition in conditions))

    def _sql(self, condition: Condition) -> ColumnElement[bool]:
        column, op, value = condition
        attribute = getattr(self.model, column)
        if op == "in":  # ORs of equalities: SQLAlchemy renders an IN list again at every run
            return or_(*(attribute == item for item in value))
        right = bindparam(value.name) if isinstance(value, Param) else value
        return _COMPARE[op](attribute, right)  # type: ignore[no-any-return]  # a SQL clause

    def matches(self, row: Any, params: dict[str, Any]) -> bool:
        """The conditions, read on an unflushed object or a queued row."""
        for column, op, value in self.conditions:
            actual = getattr(row, column)
            wanted = params[value.name] if isinstance(value, Param) else value
            if not (actual in wanted if op == "in" else _COMPARE[op](actual, wanted)):
                return False
        return True

    def __call__(self, session: Session, **params: Any) -> int:
        """The count over the whole transaction, rows not written yet included."""
        return count_with_pending(session, self.statement, params, self.model,
                                  lambda row: self.matches(row, params))


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
