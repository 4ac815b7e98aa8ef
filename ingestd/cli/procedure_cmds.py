"""`ingestd sla|report|qa|privacy`: the procedure's periodic work, reports and data requests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ingestd import progress
from ingestd.casework import get_case
from ingestd.cli.agent import actor_option
from ingestd.cli.app import App
from ingestd.cli.output import Col, emit_json, table
from ingestd.terminal import terminal_text
from storage import transaction

pass_app = click.make_pass_decorator(App)


def iso_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time; one without a zone is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO time such as "
                                 "2026-11-02T09:00:00+00:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _now(app: App, now: datetime | None) -> datetime:
    return now or app.services.clock()


@click.group()
def sla() -> None:
    """Service levels: escalations, follow-ups and breaches."""


@sla.command("sweep")
@click.option("--now", metavar="ISO-TIME", callback=iso_time,
              help="Sweep as if it were this time (default: now).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def sla_sweep(app: App, now: datetime | None, as_json: bool) -> None:
    """Escalate overdue and serious cases, queue due follow-ups, count breaches."""
    from ingestd.procedure.sweep import sweep  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    report = sweep(app.services, _now(app, now))
    if as_json:
        emit_json(report.as_json())
        return
    for reference, level in report.escalations:
        click.echo(f"{reference}: escalated to level {level}")
    for reference in report.followups:
        click.echo(f"{reference}: follow-up queued")
    for reference in report.updates:
        click.echo(f"{reference}: new date queued for the customer")
    click.echo(f"{report.open_cases} open cases; breaches: "
               + ", ".join(f"{k} {v}" for k, v in report.breaches.items()), err=True)


@click.group()
def report() -> None:
    """Reports on complaint handling."""


@report.command("monthly")
@click.option("--month", help="YYYY-MM (default: last month).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNG plots into this directory.")
@click.option("--now", metavar="ISO-TIME", callback=iso_time,
              help="Count open-case breaches as of this time.")
@pass_app
def report_monthly(app: App, month: str | None, as_json: bool, out: Path | None,
                   now: datetime | None) -> None:
    """Volumes, times, SLA breaches, escalations, satisfaction, recurring issues."""
    from ingestd.reports import monthly_report, parse_month, render_text  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from ingestd.reports.plots import PLOTS, write_plots  # noqa: PLC0415  (matplotlib itself loads only when plots are drawn)

    as_of = _now(app, now)
    start, end = parse_month(month, as_of)
    written = []
    with progress.bar("report", 1 + (len(PLOTS) if out else 0), unit="step") as shown:
        with app.services.factory() as session:
            result = monthly_report(session, start, end, min(as_of, end))
        shown.update()
        if out is not None:
            written = write_plots(result, out, shown.update)
    for path in written:
        click.echo(f"wrote {path}", err=True)
    if as_json:
        emit_json(result.as_json())
    else:
        click.echo(terminal_text(render_text(result)), nl=False)


@click.group()
def qa() -> None:
    """Quality review of resolved cases."""


@qa.command("sample")
@click.argument("n", type=int)
@click.option("--seed", type=int, help="Repeatable draw.")
@click.option("--json", "as_json", is_flag=True)
@actor_option
@pass_app
def qa_sample(app: App, n: int, seed: int | None, as_json: bool, actor: str) -> None:
    """Pick N resolved cases not yet reviewed and mark them for review."""
    from ingestd.qa import sample  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    with transaction(app.services.factory) as session:
        chosen = sample(session, n, actor=actor, at=app.services.clock(), seed=seed)
        rows = [{"reference": c.reference, "status": c.status, "category": c.category,
                 "assignee": c.assignee, "subject": c.subject} for c in chosen]
    if as_json:
        emit_json(rows)
    else:
        table(rows, ["reference", "status", "category", "assignee", Col("subject", flex=True)])


@qa.command("verdict")
@click.argument("reference")
@click.argument("result", type=click.Choice(["pass", "fail"]))
@click.option("--note", required=True, help="Why.")
@actor_option
@pass_app
def qa_verdict(app: App, reference: str, result: str, note: str, actor: str) -> None:
    """Record the reviewer's verdict on a case."""
    from ingestd.qa import verdict  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    with transaction(app.services.factory) as session:
        case = get_case(session, reference)
        verdict(session, case, result, note=note, actor=actor, at=app.services.clock())
    click.echo(f"{reference}: QA {result}", err=True)


@click.group()
def privacy() -> None:
    """A customer's data on request, and the retention purge."""


@privacy.command("export")
@click.argument("address")
@pass_app
def privacy_export(app: App, address: str) -> None:
    """Print everything kept about ADDRESS as JSON."""
    from ingestd.privacy import customer_cases, export  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    with app.services.factory() as session:
        total = len(customer_cases(session, address))
        with progress.bar("exporting", total, unit="case") as shown:
            data = export(session, address, shown.update)
        emit_json(data)


@privacy.command("erase")
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@actor_option
@pass_app
def privacy_erase(app: App, address: str, yes: bool, actor: str) -> None:
    """Remove ADDRESS's personal data; anonymised statistics stay."""
    from ingestd.privacy import erase, release_freed_space  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    if not yes:
        click.confirm(f"Erase every personal detail of {address}? This cannot be undone",
                      abort=True)
    with transaction(app.services.factory) as session:
        done = erase(session, address, actor=actor, at=app.services.clock(),
                     outbox_dir=app.settings.smtp.path)
    release_freed_space(app.engine)
    click.echo(f"erased {done.cases} cases, {done.raw_messages} raw messages, "
               f"{done.mails} mails of {address}; {done.mentions} mentions elsewhere and "
               f"{done.files} outbox files redacted", err=True)


@privacy.command("purge")
@click.option("--now", metavar="ISO-TIME", callback=iso_time,
              help="Purge as if it were this time.")
@pass_app
def privacy_purge(app: App, now: datetime | None) -> None:
    """Delete closed cases older than [retention] closed_case_days, raw mail included."""
    from ingestd.privacy import expired_count, purge_expired  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    at = _now(app, now)
    with progress.bar("purging", expired_count(app.services, at), unit="case") as shown:
        done = purge_expired(app.services, at, shown.update)
    click.echo(f"purged {done.cases} cases and {done.raw_messages} raw messages", err=True)


COMMANDS = [sla, report, qa, privacy]
