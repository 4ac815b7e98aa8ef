"""`create_app(services)`: the desk as an ASGI application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ingestd.services import Services
from ingestd.web import admin, auth, case, cases, dashboard
from ingestd.web.desk import HERE, Desk
from ingestd.web.security import DeskMiddleware


def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def no_icon(request: Request) -> Response:
    return Response(status_code=204)


def create_app(services: Services) -> Starlette:
    """The desk on `services` (settings, database, clock, composer), with its own sessions."""
    desk = Desk(services)
    static = StaticFiles(directory=HERE / "static")
    routes = [Route("/healthz", healthz), Route("/favicon.ico", no_icon),
              Mount("/static", static, name="static"), *auth.ROUTES, *cases.ROUTES,
              *dashboard.ROUTES, *admin.ROUTES, *case.ROUTES]
    app = Starlette(routes=routes, middleware=[
        Middleware(DeskMiddleware, store=desk.sessions,
                   secure_cookies=services.settings.web.secure_cookies)])
    app.state.desk = desk
    app.state.charts = dashboard.Charts()
    return app
