"""`ingestd cases assign|status|label|reply|recovery|corrective-action`: agents working a case.

Each command names who did it (`--actor`, default $INGESTD_ACTOR or the login name) and
commits the change, its event and any mail it causes in one transaction.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from typing import TextIO

import click
from sqlalchemy.orm import Session

from ingestd import casework
from ingestd.casework import STATUSES, correct_labels, get_case
from ingestd.cli.app import App
from ingestd.cli.cases import cases
from storage import Case, transaction

ACTOR_ENV = "INGESTD_ACTOR"
pass_app = click.make_pass_decorator(App)


def default_actor() -> str:
    return os.environ.get(ACTOR_ENV) or getpass.getuser()


actor_option = click.option("--actor", default=default_actor, show_default=f"${ACTOR_ENV} or login",
                            help="Who does this (recorded on the case).")


def _work(app: App, reference: str, change: Callable[[Session, Case], object]) -> None:
    with transaction(app.services.factory) as session:
        case = get_case(session, reference)
        change(session, case)
        click.echo(f"{case.reference}: {case.status}, level {case.escalation_level}, "
                   f"assignee {case.assignee or '-'}", err=True)


@cases.command("assign")
@click.argument("reference")
@click.argument("agent")
@click.option("--note")
@actor_option
@pass_app
def assign_command(app: App, reference: str, agent: str, note: str | None, actor: str) -> None:
    """Give a case to AGENT (a user once any exists: ingestd users list); they are told by
    mail."""
    services = app.services
    now = services.clock()
    _work(app, reference, lambda s, c: casework.assign(s, c, agent, actor=actor, at=now,
                                                       note=note, services=services))


@cases.command("status")
@click.argument("reference")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--note")
@click.option("--resolution", help="What was done, in words for the customer (when resolving).")
@click.option("--force", is_flag=True,
              help="Admins: a move the procedure does not allow (give --note why).")
@actor_option
@pass_app
def status_command(app: App, *, reference: str, status: str, note: str | None,
                   resolution: str | None, force: bool, actor: str) -> None:
    """Move a case to STATUS (new, acknowledged, investigating, resolved, closed); the
    customer hears of investigating and resolved."""
    services = app.services
    now = services.clock()

    def change(session: Session, case: Case) -> None:
        untold = casework.change_status(session, services, case, status, actor=actor, at=now,
                                        note=note, force=force, resolution=resolution)
        if untold is not None:
            click.echo(f"{case.reference}: no update to the customer ({untold})", err=True)

    _work(app, reference, change)


@cases.command("label")
@click.argument("reference")
@click.option("--category", help="The right category.")
@click.option("--severity", help="The right severity.")
@actor_option
@pass_app
def label_command(app: App, reference: str, category: str | None, severity: str | None,
                  actor: str) -> None:
    """Correct the triage of a case; corrected cases are training data for `ingestd train`."""
    if category is None and severity is None:
        raise click.UsageError("give --category, --severity or both")
    now = app.services.clock()
    _work(app, reference, lambda s, c: correct_labels(
        s, c, category=category, severity=severity, actor=actor, at=now,
        categories=app.settings.triage.categories))


@cases.command("reply")
@click.argument("reference")
@click.option("--file", "body_file", type=click.File("r", encoding="utf-8"), required=True,
              help="The reply text (- for standard input).")
@click.option("--force", is_flag=True, help="Admins: reply to a closed case (give --note why).")
@click.option("--note", help="Why the reply is forced.")
@actor_option
@pass_app
def reply_command(app: App, *, reference: str, body_file: TextIO, force: bool,
                  note: str | None, actor: str) -> None:
    """Answer the customer; the mail threads under their latest message."""
    body = body_file.read()
    services = app.services
    now = services.clock()
    _work(app, reference, lambda s, c: casework.reply(s, services, c, body, actor=actor, at=now,
                                                      force=force, note=note))


@cases.command("recovery")
@click.argument("reference")
@click.argument("kind", type=click.Choice(casework.RECOVERY_KINDS))
@click.option("--amount", help="Refund or compensation amount.")
@click.option("--note")
@actor_option
@pass_app
def recovery_command(app: App, *, reference: str, kind: str, amount: str | None, note: str | None,
                     actor: str) -> None:
    """Record a service-recovery action: apology, replacement, refund or compensation."""
    now = app.services.clock()
    _work(app, reference, lambda s, c: casework.record_recovery(
        s, c, kind, actor=actor, at=now, amount=amount, note=note))


@cases.command("corrective-action")
@click.argument("reference")
@click.option("--root-cause", required=True, help="Why it happened.")
@click.option("--action", "action_taken", required=True, help="What was changed.")
@actor_option
@pass_app
def corrective_command(app: App, reference: str, root_cause: str, action_taken: str,
                       actor: str) -> None:
    """Record the root cause and the corrective action taken."""
    now = app.services.clock()
    _work(app, reference, lambda s, c: casework.record_corrective_action(
        s, c, root_cause=root_cause, action=action_taken, actor=actor, at=now))


COMMANDS: list[click.Command] = []  # the commands above hang on the existing `cases` group
