"""The desk's case list: saved views, filters, full-text search, sorting and paging.

One query serves the web desk's list; it reads only the page asked for (and the count),
so it stays fast at 100,000 cases: the views and the default sort use indexes (the next
deadline is the generated, indexed column `case.next_due`: `storage.schema.NEXT_DUE_SQL`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from ingestd.casework._read import summary
from ingestd.casework._status import STATUSES
from ingestd.errors import IngestdError
from storage import Case, CaseMessage
from storage.schema import NEXT_DUE
from storage.search import matches

VIEWS = ("mine", "unassigned", "escalated", "breaching", "review", "open", "closed", "all")
SORTS = ("received", "next_due", "severity", "status", "reference", "customer", "assignee")
BREACHING_SOON = timedelta(hours=4)  # "breaching": the next deadline passed or this close
PER_PAGE_MAX = 200
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")
_SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
_STATUS_RANK = {"new": 1, "acknowledged": 2, "investigating": 3, "resolved": 4, "closed": 5}


@dataclass(frozen=True)
class CaseQuery:
    """What the list shows: a view, filters, a full-text search, the order and the page.

    `sort` is one of SORTS, "-" in front for descending ("next_due": the most urgent first,
    cases without a deadline last either way). Dates are whole days in the caller's zone,
    `received_to` included."""

    view: str = "open"
    text: str = ""
    status: str | None = None
    category: str | None = None
    severity: str | None = None
    level: int | None = None
    assignee: str | None = None
    customer: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    sort: str = "next_due"
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class CasePage:
    """One page of the list; `rows` are `casework.summary` records with `next_due_seconds`
    (seconds to the next deadline, negative once it passed; None without one) and
    `not_complaint`."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 50

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search_cases(session: Session, query: CaseQuery, *, now: datetime, user: str | None,
                 zone: tzinfo = UTC) -> CasePage:
    """The page of cases `query` asks for, as `user` (the name "mine" means) sees them."""
    _check(query)
    conditions = _conditions(session, query, now=now, user=user, zone=zone)
    total = session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0
    # The page's ids first (from an index alone, where one serves), then their rows
    statement: Select[int] = select(Case.id).where(*conditions).order_by(
        *_order(query.sort)).limit(query.per_page).offset((query.page - 1) * query.per_page)
    ids = list(session.scalars(statement))
    loaded = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(ids)))}
    cases = [loaded[i] for i in ids]
    counts = _inbound_counts(session, [c.id for c in cases])
    rows = [_row(c, counts.get(c.id, 0), now) for c in cases]
    return CasePage(rows=rows, total=int(total), page=query.page, per_page=query.per_page)


def _check(query: CaseQuery) -> None:
    if query.view not in VIEWS:
        raise IngestdError(f"unknown view {query.view!r}; use one of {', '.join(VIEWS)}")
    if query.sort.removeprefix("-") not in SORTS:
        raise IngestdError(f"unknown sort {query.sort!r}; use one of {', '.join(SORTS)} "
                           "(a leading - for descending)")
    if query.page < 1 or not 1 <= query.per_page <= PER_PAGE_MAX:
        raise IngestdError(f"page starts at 1 and per_page is 1 to {PER_PAGE_MAX}")


def _conditions(session: Session, query: CaseQuery, *, now: datetime, user: str | None,
                zone: tzinfo) -> list[ColumnElement[bool]]:
    found = [*_view(query.view, now=now, user=user)]
    for column, value in ((Case.status, query.status), (Case.category, query.category),
                          (Case.severity, query.severity), (Case.escalation_level, query.level),
                          (Case.assignee, query.assignee)):
        if value is not None and value != "":
            found.append(column == value)
    if query.customer:
        found.append(or_(Case.customer_address == query.customer.strip().lower(),
                         Case.customer_name.ilike(_prefix(query.customer.strip()), escape="\\")))
    if query.received_from is not None:
        found.append(Case.received_at >= _day_start(query.received_from, zone))
    if query.received_to is not None:
        found.append(Case.received_at < _day_start(query.received_to + timedelta(days=1), zone))
    if query.text.strip():
        condition = matches(session, query.text)
        found.append(condition if condition is not None else Case.id.is_(None))
    return found


def _view(view: str, *, now: datetime, user: str | None) -> list[ColumnElement[bool]]:
    """The saved view's conditions; every view but closed and all shows open cases only."""
    views: dict[str, list[ColumnElement[bool]]] = {
        "mine": [Case.assignee == (user or "")], "unassigned": [Case.assignee.is_(None)],
        "escalated": [Case.escalation_level > 0],
        "breaching": [now + BREACHING_SOON >= NEXT_DUE],  # NULL for closed cases
        "review": [Case.needs_review.is_(True)], "open": [], "closed": [], "all": []}
    if view == "closed":
        return [Case.status == "closed"]
    if view in ("all", "breaching"):
        return views[view]
    # IN rather than != "closed": an index on the status can serve it
    return [*views[view], Case.status.in_(OPEN_STATUSES)]


def _order(sort: str) -> list[Any]:
    descending, key = sort.startswith("-"), sort.removeprefix("-")
    column: Any = {
        "received": Case.received_at, "next_due": NEXT_DUE,
        "severity": case(_SEVERITY_RANK, value=Case.severity, else_=0),
        "status": case(_STATUS_RANK, value=Case.status, else_=0),
        "reference": Case.reference, "customer": Case.customer_address,
        "assignee": Case.assignee}[key]
    ordered = column.desc() if descending else column.asc()
    ties = [Case.id.desc() if descending else Case.id.asc()]
    if key == "next_due":  # ties in the order of ix_case_next_due_status: it serves them
        ordered = ordered.nulls_last()
        ties.insert(0, Case.status.desc() if descending else Case.status.asc())
    return [ordered, *ties]


def _inbound_counts(session: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(select(CaseMessage.case_id, func.count()).where(
        and_(CaseMessage.case_id.in_(ids), CaseMessage.direction == "in"))
        .group_by(CaseMessage.case_id))
    return {case_id: int(n) for case_id, n in rows}


def _row(case_: Case, inbound: int, now: datetime) -> dict[str, Any]:
    row = summary(case_, inbound)
    due = row["next_due"]
    row["next_due_seconds"] = None if due is None else int(
        (datetime.fromisoformat(due) - now).total_seconds())
    row["not_complaint"] = case_.not_complaint
    return row


def _prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _day_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)
