"""Logging in and out: `GET/POST /login` (rate limited per name and address), `POST /logout`."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ingestd.casework import users
from ingestd.web.desk import Desk, back
from ingestd.web.security import form_of, session_of, set_session

log = structlog.get_logger("ingestd.web")


def login_page(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    session = session_of(request)
    if session is not None and session.user is not None:
        return back("/cases", None)
    if session is None:  # a session before logging in carries the login form's CSRF token
        session = desk.sessions.new()
        set_session(request, session)
    return desk.render(request, "login.html", username="")


def login(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    form = form_of(request)
    name, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
    address = request.client.host if request.client else "-"
    if desk.logins.blocked(name, address):
        log.warning("login_throttled", user=name, address=address)
        return PlainTextResponse("too many failed logins; wait a minute and try again", 429)
    with desk.read() as s:
        user = users.authenticate(s, name, password) if name and password else None
    if user is None:
        desk.logins.failed(name, address)
        log.info("login_failed", user=name, address=address)
        session = session_of(request)
        if session is not None:
            session.flash("wrong name or password", "error")
        return desk.render(request, "login.html", username=name)
    desk.logins.succeeded(name, address)
    old = session_of(request)
    if old is not None:
        desk.sessions.drop(old)  # a new token after logging in: no session fixation
    session = desk.sessions.new()
    session.user, session.role = user.name, user.role
    set_session(request, session)
    log.info("login", user=user.name, role=user.role, address=address)
    return back("/cases", None)


def logout(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    session = session_of(request)
    if session is not None:
        desk.sessions.drop(session)
        log.info("logout", user=session.user)
    fresh = desk.sessions.new([("info", "logged out")])
    set_session(request, fresh)
    return back("/login", None)


ROUTES = [Route("/login", login_page, methods=["GET"]), Route("/login", login, methods=["POST"]),
          Route("/logout", logout, methods=["POST"])]
