"""`ingestd web`: the agents' desk; and the desk beside the daemon in `ingestd run`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from ingestd import logs
from ingestd.cli.app import App

pass_app = click.make_pass_decorator(App)


@click.command("web")
@click.option("--listen", metavar="HOST:PORT",
              help="Where to listen (default: [web] listen, 127.0.0.1:8025).")
@pass_app
def web(app: App, listen: str | None) -> None:
    """Serve the agents' desk: the case list, cases, the dashboard and the model admin.

    Keep it on loopback behind a reverse proxy that terminates TLS (docs/deploy.md)."""
    settings = app.settings
    logs.configure(settings.logging.level, settings.logging.format)
    from ingestd.web import serve  # noqa: PLC0415  (the web stack loads only for this command)

    serve(app.services, listen)


@contextmanager
def beside_the_daemon(app: App) -> Iterator[None]:
    """While the daemon runs, the desk too when `[web] enabled = true`."""
    if not app.settings.web.enabled:
        yield
        return
    from ingestd.web import Background  # noqa: PLC0415  (the web stack loads only when enabled)

    desk = Background(app.services)
    desk.start()
    try:
        yield
    finally:
        desk.stop()


COMMANDS = [web]
