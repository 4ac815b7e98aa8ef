"""Commands that look after the service itself: doctor."""

from __future__ import annotations

import sys

import click

from ingestd.cli.app import App
from ingestd.cli.output import emit_json

pass_app = click.make_pass_decorator(App)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_app
def doctor(app: App, as_json: bool) -> None:
    """Check configuration, database, mailboxes, SMTP and the model before starting."""
    from ingestd.service.doctor import run_checks  # noqa: PLC0415  (keeps `--help` fast)

    checks = run_checks(app.config_file)
    if as_json:
        emit_json({"ok": all(c.ok for c in checks), "checks": [c.as_json() for c in checks]})
    else:
        for check in checks:
            click.echo(check.line())
    if not all(c.ok for c in checks):
        sys.exit(1)


COMMANDS = [doctor]
