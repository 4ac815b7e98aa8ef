"""Stand-ins for the case-work API of issue 19 that another branch is adding to
`ingestd.casework` (users, search, bulk, notes, not-a-complaint), with the same signatures;
removed when that branch is merged. Nobody can log in through them: `USERS` is empty
unless a test fills it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ingestd import casework
from ingestd.errors import IngestdError, NotFound

if TYPE_CHECKING:
    from ingestd.services import Services


@dataclass(frozen=True)
class UserView:
    name: str
    email: str
    role: str
    disabled: bool = False


USERS: dict[str, tuple[str, UserView]] = {}


def authenticate(session: Session, name: str, password: str) -> UserView | None:
    found = USERS.get(name)
    if found is None or found[0] != password or found[1].disabled:
        return None
    return found[1]


def get_user(session: Session, name: str) -> UserView:
    if name not in USERS:
        raise NotFound(f"no user {name!r}")
    return USERS[name][1]


def list_users(session: Session) -> list[UserView]:
    return [view for _, view in USERS.values()]


@dataclass(frozen=True)
class CaseQuery:
    view: str = "open"
    text: str | None = None
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
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int


def search_cases(session: Session, query: CaseQuery, *, now: datetime, user: str) -> CasePage:
    rows = casework.list_cases(session)
    for row in rows:
        due = row["next_due"]
        row["next_due_seconds"] = (None if due is None else
                                   (datetime.fromisoformat(due) - now).total_seconds())
    rows = [r for r in rows if _matches(r, query, user)]
    key = query.sort.lstrip("-")
    field = {"received": "received_at", "next_due": "next_due_seconds",
             "severity": "severity", "reference": "reference", "status": "status",
             "customer": "customer_address", "assignee": "assignee"}.get(key, "received_at")
    rows.sort(key=lambda r: (r[field] is None, r[field] or 0), reverse=query.sort.startswith("-"))
    start = (query.page - 1) * query.per_page
    return CasePage(rows[start:start + query.per_page], len(rows), query.page, query.per_page)


def _matches(row: dict[str, Any], q: CaseQuery, user: str) -> bool:
    views = {"mine": row["assignee"] == user, "unassigned": row["assignee"] is None,
             "escalated": row["escalation_level"] > 0,
             "breaching": (row["next_due_seconds"] or 1e12) < 4 * 3600,
             "review": row["needs_review"], "open": row["status"] != "closed",
             "closed": row["status"] == "closed", "all": True}
    if not views.get(q.view, True):
        return False
    text = " ".join(str(row[k] or "") for k in ("subject", "customer_address", "customer_name"))
    checks = ((q.status, row["status"]), (q.category, row["category"]),
              (q.severity, row["severity"]), (q.level, row["escalation_level"]),
              (q.assignee, row["assignee"]), (q.customer, row["customer_address"]))
    return (all(want is None or want == have for want, have in checks)
            and (not q.text or q.text.lower() in text.lower()))


def bulk(session: Session, services: Services, refs: Sequence[str], action: str, value: str,
         *, actor: str, at: datetime) -> int:
    for ref in refs:
        case = casework.get_case(session, ref)
        if action == "assign":
            casework.assign(session, case, value, actor=actor, at=at)
        elif action == "status":
            casework.change_status(session, services, case, value, actor=actor, at=at)
        elif action == "label":
            casework.correct_labels(session, case, category=value, severity=None, actor=actor,
                                    at=at, categories=services.settings.triage.categories)
        else:
            raise IngestdError(f"unknown bulk action {action!r}")
    return len(refs)


def add_note(session: Session, case: Any, text: str, *, actor: str, at: datetime) -> None:
    if not text.strip():
        raise IngestdError("the note is empty")
    casework.record(session, case, "note", actor=actor, at=at, note=text)


def notes(session: Session, case: Any) -> list[dict[str, Any]]:
    return [{"author": e.actor, "at": e.at.isoformat(), "text": e.note}
            for e in case.events if e.kind == "note"]


def mark_not_complaint(session: Session, case: Any, *, actor: str, at: datetime,
                       reason: str) -> None:
    casework.record(session, case, "not_complaint", actor=actor, at=at, note=reason)
