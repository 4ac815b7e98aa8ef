"""What every page of the desk shares: the services, the sessions, the templates, and the
small helpers handlers use (who is logged in, render a page, go back with a flash)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from ingestd.casework import users
from ingestd.errors import NotFound
from ingestd.services import Services
from ingestd.web.security import (
    DeskSession,
    LoginLimiter,
    SessionStore,
    session_of,
    set_session,
)
from storage import reading, transaction

HERE = Path(__file__).resolve().parent
Handler = Callable[[Request], Response]


class Desk:
    """The desk's long-lived parts, built once by `create_app`."""

    def __init__(self, services: Services) -> None:
        web = services.settings.web
        self.services = services
        self.sessions = SessionStore(web.idle_minutes * 60)
        self.logins = LoginLimiter(web.login_attempts_per_minute)
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True),
                                     trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["due"] = due_text
        self.templates.filters["when"] = self.when
        self.templates.globals["link"] = link

    def now(self) -> datetime:
        return self.services.clock()

    @contextmanager
    def work(self) -> Iterator[Session]:
        """One unit of work: everything in it commits together, or nothing does."""
        with transaction(self.services.factory) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Reads only: holds no write lock (SQLite's WAL lets the daemon go on writing)."""
        with reading(self.services.factory) as session:
            yield session

    def when(self, value: datetime | str | None) -> str:
        """A time in the team's zone, as agents read it."""
        if value is None:
            return "-"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(self.services.calendar.zone).strftime("%d %b %Y %H:%M")

    def render(self, request: Request, name: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        session = session_of(request)
        page = self.templates.get_template(name).render(
            request=request, me=session, csrf=session.csrf if session else "",
            flashes=session.take_flashes() if session else [], **context)
        return HTMLResponse(page, status_code=status)


def link(kept: dict[str, Any], **changes: Any) -> str:
    """The query string of the list with `changes` made (empty values left out)."""
    merged = {k: v for k, v in {**kept, **changes}.items() if v not in (None, "")}
    return "?" + urlencode(merged) if merged else ""


def due_text(seconds: float | None) -> str:
    """Time to a deadline as agents read it: `3h 20m`, `2d 4h`; negative once it passed."""
    if seconds is None:
        return "-"
    sign, left = ("-" if seconds < 0 else ""), int(abs(seconds)) // 60
    days, hours, minutes = left // 1440, left // 60 % 24, left % 60
    if days:
        return f"{sign}{days}d {hours}h"
    return f"{sign}{hours}h {minutes:02d}m" if hours else f"{sign}{minutes}m"


def back(url: str, session: DeskSession | None, text: str | None = None,
         kind: str = "info") -> RedirectResponse:
    """303 to `url`, with a flash message to show there."""
    if session is not None and text:
        session.flash(text, kind)
    return RedirectResponse(url, status_code=303)


def login_required(handler: Handler) -> Handler:
    """Pages need a logged-in session; without one, to the login page."""

    @wraps(handler)
    def checked(request: Request) -> Response:
        session = session_of(request)
        if session is not None and session.user is not None and not _still_allowed(request,
                                                                                   session):
            session = None
        if session is None or session.user is None:
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": "/login"})
            return RedirectResponse("/login", status_code=303)
        return handler(request)

    return checked


def _still_allowed(request: Request, session: DeskSession) -> bool:
    """A user disabled (or demoted) since logging in is out at the next request."""
    desk: Desk = request.app.state.desk
    try:
        with desk.read() as s:
            user = users.get_user(s, session.user or "")
    except NotFound:
        user = None
    if user is None or user.disabled:
        desk.sessions.drop(session)
        set_session(request, None)
        return False
    session.role = user.role
    return True


def admin_required(handler: Handler) -> Handler:
    """Admin pages: 403 for agents."""

    @wraps(handler)
    def checked(request: Request) -> Response:
        session = session_of(request)
        if session is not None and session.user is not None and session.role != "admin":
            return PlainTextResponse("admins only", status_code=403)
        return handler(request)

    return login_required(checked)


def actor(request: Request) -> str:
    session = session_of(request)
    assert session is not None and session.user is not None  # noqa: S101  (login_required)
    return session.user
