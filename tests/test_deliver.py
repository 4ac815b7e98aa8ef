"""`ingestd deliver` as an MTA pipe runs it: keep the mail, exit at once, the daemon acks it.

Every test runs the real command line in a subprocess, on SQLite and PostgreSQL; the
daemon test runs the real daemon against an aiosmtpd sink, with a poll interval far longer
than the test, so only the wake-up (FIFO or NOTIFY) can make the acknowledgment arrive.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestd import config
from ingestd.service.pipe import wakeups
from ingestd.spool import wake_path
from ingestd.spool._common import wake_fifo
from ingestd.spool._where import database_url
from tests.servers import SmtpSink, wait_for
from tests.support import REPO, ConfigSpec, Ingestd, complaint, run_cli, write_config
from tests.test_daemon import RunningDaemon, migrate

HEAVY = ("sklearn", "numpy", "scipy", "sqlalchemy", "psycopg", "pydantic", "structlog",
         "click", "jinja2", "ingestd.cli", "ingestd.config", "ingestd.message")
SLOW_POLL = "[daemon]\npoll_interval = 600\nsweep_interval = 3600\n"


def raw_rows(db_url: str) -> list[tuple[str, str, bytes | None]]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(  # type: ignore[misc]
                "SELECT source, state, raw FROM raw_message ORDER BY id"))]
    finally:
        engine.dispose()


def imported(stderr: str) -> set[str]:
    """The modules `python -X importtime` reports."""
    return {line.split("|")[-1].strip() for line in stderr.splitlines()
            if line.startswith("import time:")}


def test_deliver_keeps_the_mail_without_loading_anything_heavy(tmp_path: Path,
                                                               db_url: str) -> None:
    cfg = write_config(tmp_path, ConfigSpec(db_url))
    migrate(db_url)
    raw = complaint(1, message_id="<lean@customer.example>")

    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ingestd", "--config",
                           str(cfg), "deliver", "--source", "mta"], input=raw, cwd=REPO,
                          capture_output=True, timeout=60, check=False)
    stderr = done.stderr.decode()

    assert done.returncode == 0, stderr
    loaded = imported(stderr)
    assert "ingestd.spool" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY}
    assert raw_rows(db_url) == [("mta", "piped", raw)]


def test_with_the_default_config_the_full_cli_keeps_the_mail_alike(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    env = {k: v for k, v in os.environ.items() if k != config.CONFIG_ENV}
    raw = complaint(7)
    done = run_cli(None, "deliver", stdin=raw, env={**env, config.DATABASE_ENV: url})
    assert done.returncode == 0, done.stderr
    assert raw_rows(url) == [("stdin", "piped", raw)]


def test_piped_mail_is_processed_once_by_the_next_run(tmp_path: Path, db_url: str) -> None:
    cfg = write_config(tmp_path, ConfigSpec(db_url))
    migrate(db_url)
    raw = complaint(2, message_id="<twice@customer.example>")

    first, again = run_cli(cfg, "deliver", stdin=raw), run_cli(cfg, "deliver", stdin=raw)
    assert first.returncode == again.returncode == 0
    assert "stored" in first.stderr and "Traceback" not in first.stderr
    assert not (tmp_path / "outbox").exists()  # nothing is sent by the pipe itself
    ingestd = Ingestd(cfg)  # what `run --once` does, in this process (the imports are paid)
    try:
        report = ingestd.run_once()
    finally:
        ingestd.close()

    assert (report.stored, report.duplicates, report.processed.processed) == (1, 1, 1)
    assert [state for _, state, _ in raw_rows(db_url)] == ["done", "duplicate"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2  # acknowledgment + team mail


def test_missing_sqlite_database_means_exit_75_and_no_empty_file(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'gone.sqlite3'}"))
    done = run_cli(cfg, "deliver", stdin=complaint(3))
    assert done.returncode == 75
    assert "try again later" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "gone.sqlite3").exists()


def test_unreadable_config_means_exit_75(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "missing.toml", "deliver", stdin=complaint(5))
    assert done.returncode == 75 and "Traceback" not in done.stderr


@pytest.mark.parametrize("url", ["sqlite:///var/x.db", "sqlite:////abs/x.db",
                                 "postgresql+psycopg://u@h/db"])
def test_the_pipe_reads_the_database_config_load_reads(tmp_path: Path, url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_config(tmp_path, ConfigSpec(url))
    assert database_url(str(cfg)) == config.load(cfg).database.url
    monkeypatch.setenv(config.DATABASE_ENV, "sqlite:///other.db")
    assert database_url(str(cfg)) == config.load(cfg).database.url


def test_running_daemon_acknowledges_piped_mail_at_once(tmp_path: Path, db_url: str,
                                                        smtp_sink: SmtpSink) -> None:
    cfg = write_config(tmp_path, ConfigSpec(db_url, smtp_port=smtp_sink.port, extra=SLOW_POLL))
    migrate(db_url)
    daemon = RunningDaemon(cfg, tmp_path / "daemon.log")
    try:
        wait_for(lambda: "pipe_listening" in daemon.log(), timeout=60,
                 message="the daemon listens for piped mail")
        raw = complaint(6, message_id="<now@customer.example>")
        done = run_cli(cfg, "deliver", stdin=raw)
        returned = time.monotonic()
        assert done.returncode == 0, done.stderr

        wait_for(lambda: [m for m in smtp_sink.messages
                          if m.message["In-Reply-To"] == "<now@customer.example>"],
                 timeout=3, message=f"an acknowledgment\n{daemon.log()}")
        assert time.monotonic() - returned < 3  # the poll interval is 600 s
        assert '"source": "stdin"' in daemon.log()  # processed there, not in the pipe
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_the_wake_fifo_is_as_writable_as_the_database_and_wakes_at_once(tmp_path: Path) -> None:
    database = tmp_path / "ingestd.sqlite3"
    migrate(f"sqlite:///{database}")
    database.chmod(0o660)  # the MTA's group may write the database, so it may wake us
    engine = sa.create_engine(f"sqlite:///{database}")
    with wakeups(engine) as wait:
        fifo = Path(wake_path(str(database)))
        assert fifo.is_fifo() and stat.S_IMODE(fifo.stat().st_mode) == 0o660
        assert wait(0.01) is False
        wake_fifo(str(database))
        wake_fifo(str(database))
        started = time.monotonic()
        assert wait(5) is True and time.monotonic() - started < 0.5
        assert wait(0.01) is False  # both wake-ups read at once
    engine.dispose()
