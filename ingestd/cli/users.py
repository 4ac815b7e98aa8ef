"""`ingestd users add|passwd|disable|enable|list`: the agents and admins of the web desk.

A password is read from standard input: asked twice on a terminal (nothing echoed), one
line from a pipe (`printf '%s\\n' "$PASSWORD" | ingestd users add ann --email ...`). It is
never an argument, so it never shows in `ps` or a shell's history.
"""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from ingestd.casework import users as desk_users
from ingestd.cli.app import App
from ingestd.cli.output import Col, emit_json, table
from ingestd.errors import IngestdError
from storage import transaction

pass_app = click.make_pass_decorator(App)


@click.group()
def users() -> None:
    """Agents and admins who log in to the web desk and are given cases."""


def read_password() -> str:
    """Twice on a terminal (must match), or the first line of a pipe."""
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                     err=True)
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise IngestdError("no password given; type it when asked, or pipe it as one line: "
                           "printf '%s\\n' \"$PASSWORD\" | ingestd users ...")
    return password


@users.command("add")
@click.argument("name")
@click.option("--email", required=True, help="Where their case mail goes.")
@click.option("--role", type=click.Choice(desk_users.ROLES), default="agent", show_default=True)
@pass_app
def add(app: App, name: str, email: str, role: str) -> None:
    """Add user NAME (the login and the name cases are assigned to); the password comes
    from standard input."""
    password = read_password()
    with transaction(app.services.factory) as session:
        desk_users.add_user(session, name, email, role, password)
    click.echo(f"user {name} added ({role}, {email})", err=True)


@users.command("passwd")
@click.argument("name")
@pass_app
def passwd(app: App, name: str) -> None:
    """Give NAME a new password (from standard input)."""
    with app.services.factory() as session:
        desk_users.get_user(session, name)  # an unknown name fails before the prompt
    password = read_password()
    with transaction(app.services.factory) as session:
        desk_users.set_password(session, name, password)
    click.echo(f"user {name}: password changed", err=True)


@users.command("disable")
@click.argument("name")
@pass_app
def disable(app: App, name: str) -> None:
    """NAME can no longer log in nor be given cases (their cases keep their name)."""
    with transaction(app.services.factory) as session:
        desk_users.disable_user(session, name)
    click.echo(f"user {name} disabled", err=True)


@users.command("enable")
@click.argument("name")
@pass_app
def enable(app: App, name: str) -> None:
    """Let a disabled user log in again."""
    with transaction(app.services.factory) as session:
        desk_users.enable_user(session, name)
    click.echo(f"user {name} enabled", err=True)


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_command(app: App, as_json: bool) -> None:
    """Every user, with their role and whether they are disabled."""
    with app.services.factory() as session:
        rows = [asdict(u) for u in desk_users.list_users(session)]
    if as_json:
        emit_json(rows)
    else:
        table(rows, [Col("name"), Col("role"), Col("email", flex=True),
                     Col("disabled", show=lambda r: "disabled" if r["disabled"] else "-")])


COMMANDS = [users]
