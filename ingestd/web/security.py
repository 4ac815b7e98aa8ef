"""Sessions, CSRF and the headers every answer carries: one ASGI middleware in front of the desk.

Sessions live in this process (a random token in an HttpOnly cookie, the rest server-side):
logging out or a restart ends them for good, a disabled user is out at the next request, and
a session unused for `[web] idle_minutes` expires. The list's own refreshing (htmx polling)
does not count as use, so a desk left open still times out.

Every POST must carry the session's CSRF token (the form field `csrf_token`, or the header
`X-CSRF-Token` that htmx sends); without it the answer is 403 and nothing runs.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "ingestd_desk"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
           "referrer-policy": "same-origin", "x-frame-options": "DENY"}
MAX_FORM_BYTES = 2 * 1024 * 1024
MAX_SESSIONS = 10_000
POLLING = "/cases/rows"  # the list refreshing itself: not a sign of life
REFUSED = ("<!doctype html><title>Refused</title><p>Refused: the form carries no valid CSRF "
           "token, or your session has expired. <a href=\"/login\">Log in again</a> and "
           "send it from the desk's own page.</p>")


@dataclass
class DeskSession:
    """One browser's session: its CSRF token, who logged in (None before), flash messages."""

    id: str
    csrf: str
    seen: float
    user: str | None = None
    role: str | None = None
    flashes: list[tuple[str, str]] = field(default_factory=list)

    def flash(self, text: str, kind: str = "info") -> None:
        self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken


class SessionStore:
    """Sessions by token, forgotten after `idle_seconds` without use."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds, self.clock = idle_seconds, clock
        self._sessions: dict[str, DeskSession] = {}
        self._lock = threading.Lock()

    def new(self, flashes: list[tuple[str, str]] | None = None) -> DeskSession:
        session = DeskSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.clock(),
                              flashes=list(flashes or []))
        with self._lock:
            self._prune()
            self._sessions[session.id] = session
        return session

    def get(self, token: str | None, *, touch: bool = True) -> DeskSession | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if self.clock() - session.seen > self.idle_seconds:
                del self._sessions[token]
                return None
            if touch:
                session.seen = self.clock()
            return session

    def drop(self, session: DeskSession) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)

    def _prune(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._sessions.items() if now - s.seen > self.idle_seconds]:
            del self._sessions[token]
        while len(self._sessions) >= MAX_SESSIONS:  # the least recently used make room
            del self._sessions[min(self._sessions, key=lambda t: self._sessions[t].seen)]


class LoginLimiter:
    """At most `attempts` failed logins a minute per name and address."""

    def __init__(self, attempts: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts, self.clock = attempts, clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, name: str, address: str) -> bool:
        with self._lock:
            return len(self._recent((name.lower(), address))) >= self.attempts

    def failed(self, name: str, address: str) -> None:
        with self._lock:
            self._recent((name.lower(), address)).append(self.clock())

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop((name.lower(), address), None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and self.clock() - times[0] > 60:
            times.popleft()
        if len(self._failures) > MAX_SESSIONS:  # forget the quiet ones
            for other in [k for k, v in self._failures.items() if not v and k != key]:
                del self._failures[other]
        return times


def session_of(request: Request) -> DeskSession | None:
    session: DeskSession | None = request.scope.get("desk_session")
    return session


def set_session(request: Request, session: DeskSession | None) -> None:
    """Make `session` this browser's from this answer on (a new one after logging in)."""
    request.scope["desk_session"] = session


def form_of(request: Request) -> FormData:
    """The POSTed form, already read (and its token checked) by the middleware."""
    form: FormData = request.scope.get("desk_form") or FormData()
    return form


class DeskMiddleware:
    """Loads the session, refuses a POST without its CSRF token, sets the cookie and headers."""

    def __init__(self, app: ASGIApp, store: SessionStore, secure_cookies: str) -> None:
        self.app, self.store, self.secure_cookies = app, store, secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        before = self.store.get(request.cookies.get(COOKIE), touch=scope["path"] != POLLING)
        scope["desk_session"] = before
        if scope["method"] == "POST":
            refusal, receive = await self._check(scope, receive, before)
            if refusal is not None:
                await refusal(scope, receive, self._headers(scope, send, before))
                return
        await self.app(scope, receive, self._headers(scope, send, before))

    async def _check(self, scope: Scope, receive: Receive,
                     session: DeskSession | None) -> tuple[Response | None, Receive]:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                return PlainTextResponse("the form is too large", 413), receive
            if not message.get("more_body"):
                break
        replay = _replay(body)
        form = await Request(scope, replay).form()
        scope["desk_form"] = form
        token = Headers(scope=scope).get("x-csrf-token") or str(form.get("csrf_token") or "")
        if session is None or not hmac.compare_digest(token.encode(), session.csrf.encode()):
            return HTMLResponse(REFUSED, 403), replay
        return None, _replay(body)

    def _headers(self, scope: Scope, send: Send, before: DeskSession | None) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if not scope["path"].startswith("/static/"):  # pages hold customers' data
                    headers.setdefault("cache-control", "no-store")
                after: DeskSession | None = scope.get("desk_session")
                if after is not before or (after is None and before is None and
                                           COOKIE in Request(scope).cookies):
                    headers.append("set-cookie", self._cookie(scope, after))
            await send(message)

        return send_with_headers

    def _cookie(self, scope: Scope, session: DeskSession | None) -> str:
        secure = self.secure_cookies == "always" or (
            self.secure_cookies == "auto" and scope.get("scheme") == "https")
        value, age = (session.id, "") if session else ("", "; Max-Age=0")
        return (f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{age}"
                f"{'; Secure' if secure else ''}")


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
