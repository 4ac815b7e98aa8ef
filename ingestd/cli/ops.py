"""Commands that run and look after the service: run, deliver, db, quarantine."""

from __future__ import annotations

import gc
import sys
from typing import TextIO, cast

import click
from sqlalchemy import select

from ingestd import config, logs, progress
from ingestd.cli.app import App
from ingestd.cli.output import Col, emit_json, table
from ingestd.errors import NotFound, StorageError, TemporaryFailure
from ingestd.terminal import terminal_text

pass_app = click.make_pass_decorator(App)


@click.command()
@click.option("--once", is_flag=True, help="Drain every source and the outbox, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (with --once).")
@pass_app
def run(app: App, once: bool, as_json: bool) -> None:
    """Run the daemon, or with --once drain everything and exit."""
    settings = app.settings
    if not once:
        logs.configure(settings.logging.level, settings.logging.format)
        from ingestd.cli.web_cmd import beside_the_daemon  # noqa: PLC0415  (as below)
        from ingestd.daemon import Daemon  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

        with beside_the_daemon(app):
            sys.exit(Daemon(app.settings, app.engine, app.config_file).run())
    # with --json, standard output is the summary alone: the log goes to standard error
    log_stream = progress.AboveBars(sys.stderr if as_json else sys.stdout)
    logs.configure(settings.logging.level, settings.logging.format,
                   cast("TextIO", log_stream))
    from ingestd.pool import build_preparer  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    preparer = build_preparer(settings.daemon.workers, settings.triage.review_threshold)
    if preparer.enabled:
        # Forked first, before the database layer, the model or any thread: the workers load
        # the model while this process goes on (and decide each mail: it needs none itself).
        config.require_model(settings.triage.model)  # a missing model stops here, not later
        preparer.start(settings.triage.model, wait=False)
    services = app.services
    services.preparer = preparer
    if not preparer.enabled:
        services.model.get()  # a missing or unsafe model stops here, not in every message
    from ingestd.casework import build_sender  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from ingestd.intake import DrainReport, drain_all, release_leases  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from ingestd.mailout.sender import SendStats  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    sender, sent = build_sender(services), SendStats()
    # What start-up made (modules, mappers, templates) lives as long as the process: the
    # collector need not walk it again and again while the backlog's objects come and go.
    gc.freeze()

    def send() -> None:  # after each batch: its acknowledgments go out while workers go on
        sent.add(sender.deliver_pending())

    with progress.bar("processing", unit="mail") as shown:
        report = drain_all(services, DrainReport(on_done=lambda _processed: shown.update(),
                                                 after_batch=send))
    services.close()
    send()  # what is left (retries, the sweep's mail); a failure is reported
    release_leases(services)
    summary = {"stored": report.stored, "duplicates": report.duplicates,
               "processed": report.processed.processed,
               "quarantined": report.processed.quarantined,
               "outcomes": report.processed.outcomes, "sent": sent.sent,
               "send_retries": sent.retried, "send_failed": sent.failed,
               "errors": [str(e) for e in report.errors]}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"stored {report.stored} new messages ({report.duplicates} duplicates), "
                   f"processed {report.processed.processed}, quarantined "
                   f"{report.processed.quarantined}; sent {sent.sent} mails "
                   f"({sent.retried} to retry, {sent.failed} failed)", err=True)
    for error in report.errors:
        click.echo(f"ingestd: {error}", err=True)
    if report.errors:
        sys.exit(report.errors[0].exit_code)


@click.command()
@click.option("--source", default="stdin", show_default=True, help="Source name to record.")
@click.option("--process", is_flag=True,
              help="Also parse, triage and acknowledge it now, in this process (no daemon).")
@pass_app
def deliver(app: App, source: str, process: bool) -> None:
    """Take one message on standard input (an MTA pipe); exit 75 means try again later.

    The mail is kept durably and the running daemon processes it at once; without a
    daemon, --process does it all here (a few seconds: the model loads for one mail).
    """
    raw = sys.stdin.buffer.read()
    if not raw.strip():
        raise click.UsageError("no message on standard input")
    if not process:
        _keep_for_the_daemon(app, raw, source)
        return
    from ingestd.intake import store_and_process  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    try:
        outcome = store_and_process(app.services, source, raw)
    except StorageError as exc:  # the message is not stored: the MTA keeps it and retries
        raise TemporaryFailure(f"{exc}; the MTA should try again later") from None
    click.echo(outcome, err=True)


def _keep_for_the_daemon(app: App, raw: bytes, source: str) -> None:
    """What `ingestd.launch` does without click when the config file is named."""
    from ingestd.spool import keep  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    try:
        row = keep(app.settings.database.url, raw, source)
    except TemporaryFailure:
        raise
    except Exception as exc:  # noqa: BLE001  (any doubt, a bad config too: the MTA retries)
        raise TemporaryFailure(f"cannot store the message ({exc}); "
                               "the MTA should try again later") from None
    click.echo(f"stored as raw message {row}; the running daemon takes it from here", err=True)


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@pass_app
def upgrade(app: App) -> None:
    """Create or migrate the database schema to the newest version."""
    from ingestd.services import open_database  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from storage import upgrade as migrate  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    engine = open_database(app.settings, check_schema=False)
    try:
        migrate(engine)
    except Exception as exc:  # noqa: BLE001  (any driver error becomes one clear line)
        raise StorageError(f"cannot upgrade {engine.url.render_as_string(hide_password=True)}: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    click.echo(f"database is up to date ({engine.url.render_as_string(hide_password=True)})",
               err=True)


@click.group()
def quarantine() -> None:
    """Messages that failed a step, kept with the step and the error."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include entries already retried.")
@pass_app
def quarantine_list(app: App, as_json: bool, show_all: bool) -> None:
    """List quarantined messages.

    Each entry names the step that failed, the error and where the mail came from;
    `ingestd quarantine retry` runs them again once the cause is fixed."""
    from storage import Quarantine, RawMessage  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    with app.services.factory() as session:
        query = select(Quarantine, RawMessage).join(RawMessage).order_by(Quarantine.id)
        if not show_all:
            query = query.where(Quarantine.resolved_at.is_(None))
        rows = [{"id": q.id, "step": q.step, "error": q.error, "at": q.at.isoformat(),
                 "attempts": q.attempts, "source": r.source, "uid": r.uid,
                 "message_id": r.message_id, "resolved": q.resolved_at is not None}
                for q, r in session.execute(query)]
    if as_json:
        emit_json(rows)
    else:
        table(rows, ["id", "step", Col("error", flex=True), Col("source", drop=1),
                     Col("uid", flex=True, drop=2), "attempts"])


@quarantine.command("show")
@click.argument("entry", type=int)
@click.option("--raw", is_flag=True, help="Print the raw message bytes.")
@pass_app
def quarantine_show(app: App, entry: int, raw: bool) -> None:
    """Show one quarantined message.

    ENTRY is an id from `ingestd quarantine list`; the entry prints as JSON, or with --raw
    the message's bytes exactly as they came."""
    from storage import Quarantine, RawMessage  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    with app.services.factory() as session:
        found = session.get(Quarantine, entry)
        message = session.get(RawMessage, found.raw_message_id) if found else None
        if found is None or message is None:
            raise NotFound(f"no quarantine entry {entry}; see: ingestd quarantine list")
        if raw and sys.stdout.isatty():  # to be read: inert; into a pipe or file: the bytes
            click.echo(terminal_text((message.raw or b"").decode("utf-8", "replace")))
            return
        if raw:
            sys.stdout.buffer.write(message.raw or b"")
            return
        emit_json({"id": found.id, "step": found.step, "error": found.error,
                   "at": found.at.isoformat(), "attempts": found.attempts,
                   "source": message.source, "folder": message.folder, "uid": message.uid,
                   "message_id": message.message_id, "size": message.size})


@quarantine.command("retry")
@click.argument("entries", type=int, nargs=-1)
@pass_app
def quarantine_retry(app: App, entries: tuple[int, ...]) -> None:
    """Run quarantined messages again (all of them, or the given ids)."""
    from ingestd.casework import build_sender  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)
    from ingestd.pipeline import retry_quarantined  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

    stats = retry_quarantined(app.services, list(entries) or None)
    build_sender(app.services).deliver_pending()
    click.echo(f"processed {stats.processed}, still quarantined {stats.quarantined}", err=True)


COMMANDS = [run, deliver, db, quarantine]
