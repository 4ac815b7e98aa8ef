"""The case list: saved views, filters, full-text search, sorting, paging, bulk actions, and the
rows partial the page polls to stay current (`GET /cases/rows`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ingestd import casework
from ingestd.casework import BULK_ACTIONS, STATUSES, CaseQuery
from ingestd.errors import IngestdError
from ingestd.web.desk import Desk, actor, back, login_required
from ingestd.web.security import form_of, session_of
from triage.labels import SEVERITIES

VIEWS = (("mine", "Mine"), ("unassigned", "Unassigned"), ("escalated", "Escalated"),
         ("breaching", "Breaching soon"), ("review", "Needs review"), ("open", "All open"),
         ("closed", "Closed"), ("all", "All"))
SORTS = ("received", "next_due", "severity", "status", "reference", "customer", "assignee")
FILTERS = ("q", "status", "category", "severity", "level", "assignee", "customer", "from", "to")


def case_query(params: QueryParams) -> tuple[CaseQuery, list[str]]:
    """The list's query from the URL; a value that makes no sense is dropped and named."""
    problems: list[str] = []

    def text(name: str) -> str | None:
        return (params.get(name) or "").strip() or None

    def number(name: str, low: int) -> int | None:
        value = text(name)
        if value is None:
            return None
        if value.isdigit() and int(value) >= low:
            return int(value)
        problems.append(f"{name} {value!r} is not a number")
        return None

    def day(name: str) -> date | None:
        value = text(name)
        try:
            return None if value is None else date.fromisoformat(value)
        except ValueError:
            problems.append(f"{name} {value!r} is not a date (YYYY-MM-DD)")
            return None

    view = text("view") or "open"
    sort = text("sort") or "next_due"
    if view not in dict(VIEWS):
        problems.append(f"no view {view!r}")
        view = "open"
    if sort.lstrip("-") not in SORTS:
        problems.append(f"cannot sort by {sort!r}")
        sort = "next_due"
    query = CaseQuery(view=view, text=text("q") or "", status=text("status"),
                          category=text("category"), severity=text("severity"),
                          level=number("level", 0), assignee=text("assignee"),
                          customer=text("customer"), received_from=day("from"),
                          received_to=day("to"), sort=sort, page=number("page", 1) or 1)
    return query, problems


def _listing(request: Request) -> dict[str, Any]:
    desk: Desk = request.app.state.desk
    query, problems = case_query(request.query_params)
    with desk.read() as s:
        page = casework.search_cases(s, query, now=desk.now(), user=actor(request),
                                      zone=desk.services.calendar.zone)
        people = [u.name for u in casework.list_users(s) if not u.disabled]
    kept = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return {"query": query, "page": page, "problems": problems, "kept": kept,
            "pages": page.pages, "views": VIEWS,
            "statuses": STATUSES, "severities": SEVERITIES, "people": people,
            "categories": desk.services.settings.triage.categories, "sorts": SORTS,
            "bulk_actions": BULK_ACTIONS}


@login_required
def case_list(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    context = _listing(request)
    session = session_of(request)
    for problem in context["problems"]:
        if session is not None:
            session.flash(problem, "error")
    return desk.render(request, "cases.html", **context)


@login_required
def case_rows(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    return desk.render(request, "_rows.html", **_listing(request))


@login_required
def bulk(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    form = form_of(request)
    refs = [str(r) for r in form.getlist("refs")]
    action, value = str(form.get("action") or ""), str(form.get("value") or "").strip()
    target = "/cases" + (f"?{request.url.query}" if request.url.query else "")
    back_to = str(form.get("back") or target)
    if not back_to.startswith("/cases"):
        back_to = "/cases"
    session = session_of(request)
    if not refs:
        return back(back_to, session, "tick the cases to change first", "error")
    if action not in BULK_ACTIONS or not value:
        return back(back_to, session, "choose an action and a value", "error")
    try:
        with desk.work() as s:
            count = casework.bulk(s, desk.services, refs, action, value, actor=actor(request),
                             at=desk.now())
    except IngestdError as exc:
        return back(back_to, session, f"nothing changed: {exc}", "error")
    return back(back_to, session, f"{action} {value}: {count} cases changed")


def home(request: Request) -> Response:
    return RedirectResponse("/cases", status_code=303)


ROUTES = [Route("/", home), Route("/cases", case_list), Route("/cases/rows", case_rows),
          Route("/cases/bulk", bulk, methods=["POST"])]
