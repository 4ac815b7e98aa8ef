"""`ingestd cases ...`: what agents do with cases."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

import click

from ingestd.casework import STATUSES, CaseFilter, detail, get_case, list_cases
from ingestd.cli.app import App
from ingestd.cli.output import Col, emit_json, plain, say, table
from triage.labels import SEVERITIES

pass_app = click.make_pass_decorator(App)


@click.group()
def cases() -> None:
    """List, show and work complaint cases."""


@cases.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--category", help="One of [triage] categories.")
@click.option("--severity", type=click.Choice(SEVERITIES))
@click.option("--level", type=int, help="Escalation level.")
@click.option("--assignee")
@click.option("--overdue", is_flag=True, help="Only cases past a deadline now.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_command(app: App, *, status: str | None, category: str | None, severity: str | None,
                 level: int | None, assignee: str | None, overdue: bool, as_json: bool) -> None:
    """List cases (oldest first)."""
    if category is not None and category not in app.settings.triage.categories:
        raise click.BadParameter(f"use one of {', '.join(app.settings.triage.categories)}",
                                 param_hint="--category")
    services = app.services
    filters = CaseFilter(status=status, category=category, severity=severity, level=level,
                         assignee=assignee, overdue_at=services.clock() if overdue else None)
    with services.factory() as session:
        rows = list_cases(session, filters)
    if as_json:
        emit_json(rows)
    else:
        table(rows, list_columns(services.calendar.zone, services.clock()))


@cases.command("show")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def show(app: App, reference: str, as_json: bool) -> None:
    """Everything about one case: triage, deadlines, messages, history."""
    with app.services.factory() as session:
        data = detail(session, get_case(session, reference))
    if as_json:
        emit_json(data)
        return
    for key in ("reference", "status", "subject", "customer_name", "customer_address",
                "category", "severity", "confidence", "escalation_level", "assignee",
                "order_numbers", "phone_numbers", "flags", "linked_case"):
        say(f"{key + ':':<19}{plain(data[key])}")
    say(f"{'reasons:':<19}{plain((data['triage'] or {}).get('reasons', []), '; ')}")
    for step, due in data["deadlines"].items():
        say(f"{step + ' due:':<19}{plain(due)}")
    for message in data["messages"]:
        say(f"\n--- {message['direction']} {message['at']} {plain(message['sender'])}")
        say(message["text"])
    say("\nhistory:")
    for event in data["events"]:
        say(f"  {event['at']}  {event['actor']}: {event['kind']} "
            f"{event['old'] or ''}→{event['new'] or ''} {event['note'] or ''}")


def list_columns(zone: tzinfo, now: datetime) -> list[Col]:
    """`cases list`'s columns, the least needed dropped first on a narrow terminal."""
    return [Col("reference"), Col("status"), Col("severity"), Col("category", drop=1),
            Col("escalation_level", "LVL", right=True), Col("assignee", "AGENT"),
            Col("next_due", "NEXT DUE", show=lambda row: _due(row, zone, now)),
            Col("message_count", "MSGS", drop=2, right=True),
            Col("customer_address", "CUSTOMER", flex=True, drop=3),
            Col("subject", flex=True)]


def _due(row: dict[str, Any], zone: tzinfo, now: datetime) -> str:
    """When the case's next step (the one its status waits for) falls due, in the team's
    time zone; `!` marks it overdue."""
    if row["next_due"] is None:
        return "-"
    due = datetime.fromisoformat(row["next_due"])
    return f"{'!' if due < now else ''}{due.astimezone(zone):%d %b %H:%M}"


COMMANDS = [cases]
