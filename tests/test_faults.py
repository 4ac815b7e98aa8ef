"""Server faults: each ends with a clear log line or error, recovers on the next run, loses
nothing. Dovecot stopped mid-drain, UIDVALIDITY changed, a folder deleted and recreated, the
IMAP connection cut mid-FETCH, a stalling and a slow server (tests/proxy.py), a full disk
under the SQLite file and under the outbox folder (a real tmpfs mounted small; root is
needed to mount it)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog.testing
from sqlalchemy import func, select

from storage import Case, Outbox, RawMessage, utcnow
from tests.crashkit import Child, Zygote, run_until_clean, zygote_server
from tests.proxy import FaultyProxy
from tests.support import ConfigSpec, Ingestd, MailboxSpec, complaint, mail, run_cli, write_config


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    yield from zygote_server()


def _app(tmp_path: Path, account, *, folders=("INBOX",), batch_size=10, db: str | None = None,
         timeout: int | None = None) -> Ingestd:
    config = write_config(tmp_path, ConfigSpec(
        db or f"sqlite:///{tmp_path / 'db.sqlite3'}",
        [MailboxSpec(account, folders=folders, batch_size=batch_size)],
        extra="[daemon]\nlease_seconds = 1\n"))
    if timeout is not None:
        config.write_text(config.read_text().replace("timeout = 10", f"timeout = {timeout}"))
    return Ingestd(config)


def _customers(app: Ingestd) -> list[str]:
    with app.services.factory() as session:
        return list(session.scalars(select(Case.customer_address)))


def _pending(app: Ingestd) -> int:
    with app.services.factory() as session:
        return int(session.scalar(select(func.count(RawMessage.id))
                                  .where(RawMessage.state == "pending")) or 0)


def _events(logs: list[dict], name: str) -> list[dict]:
    return [entry for entry in logs if entry["event"] == name]


def test_dovecot_stopped_and_started_mid_drain(tmp_path, dovecot, zygote):
    account = dovecot.new_user("stop")
    dovecot.append(account, [complaint(n) for n in range(120)])
    app = _app(tmp_path, account)
    config = tmp_path / "config.toml"
    child = Child(zygote, config)
    assert child.wait_event("batch_stored", 2, timeout=60)
    dovecot.stop(kill=True)
    try:
        code = child.wait()
        stderr = child.stderr.decode()
    finally:
        dovecot.start()
    assert code == 69, stderr
    assert "Traceback" not in stderr
    assert "mailbox 'support'" in stderr and "the next run goes on from there" in stderr, stderr
    run_until_clean(zygote, config)
    customers = _customers(app)
    assert len(customers) == len(set(customers)) == 120


def test_uidvalidity_change_is_logged_and_adds_nothing(tmp_path, dovecot):
    account = dovecot.new_user("uidv")
    dovecot.append(account, [complaint(n) for n in range(5)])
    app = _app(tmp_path, account)
    app.run_once()
    dovecot.reset_uidvalidity(account)
    dovecot.append(account, [complaint(5)])
    with structlog.testing.capture_logs() as logs:
        report = app.run_once()
    (changed,) = _events(logs, "uidvalidity_changed")
    assert changed["folder"] == "INBOX" and changed["old"] != changed["new"]
    assert (report.duplicates, report.stored) == (5, 1)
    assert sorted(_customers(app)) == sorted(f"customer{n}@example.net" for n in range(6))


def test_folder_deleted_then_recreated(tmp_path, dovecot):
    account = dovecot.new_user("folder")
    dovecot.append(account, [complaint(n) for n in range(4)], folder="Complaints")
    app = _app(tmp_path, account, folders=("INBOX", "Complaints"))
    app.run_once()
    old = dovecot.fetch_all(account, "Complaints")
    dovecot.delete_folder(account, "Complaints")

    with structlog.testing.capture_logs() as logs:
        gone = app.run_once()
    assert len(gone.errors) == 1 and "Complaints" in str(gone.errors[0])
    assert _events(logs, "source_failed")

    dovecot.append(account, [*old.values(), complaint(4)], folder="Complaints")
    with structlog.testing.capture_logs() as logs:
        back = app.run_once()
    assert back.errors == []
    assert _events(logs, "uidvalidity_changed")
    assert (back.stored, back.duplicates) == (1, 4)
    assert sorted(_customers(app)) == sorted(f"customer{n}@example.net" for n in range(5))


@contextlib.contextmanager
def _proxied(dovecot, account) -> Iterator[tuple[FaultyProxy, object]]:
    proxy = FaultyProxy(dovecot.host, dovecot.port)
    try:
        yield proxy, type(account)(proxy.host, proxy.port, account.username, account.password)
    finally:
        proxy.close()


def _bulky(n: int) -> bytes:
    return mail(f"Customer {n} <customer{n}@example.net>", f"Broken order {n}",
                "My order arrived broken. " + "details " * 3000)


def test_connection_cut_in_the_middle_of_a_fetch(tmp_path, dovecot):
    account = dovecot.new_user("cut")
    dovecot.append(account, [_bulky(n) for n in range(30)])
    with _proxied(dovecot, account) as (proxy, via_proxy):
        app = _app(tmp_path, via_proxy, batch_size=10)
        proxy.faults.cut_after = 350_000  # inside the second batch's FETCH (~240 kB a batch)
        with structlog.testing.capture_logs() as logs:
            cut = app.run_once()
        assert proxy.cuts == 1
        assert len(cut.errors) == 1 and "support" in str(cut.errors[0])
        (failed,) = _events(logs, "source_failed")
        assert failed["source"] == "support"
        assert 0 < len(_customers(app)) < 30  # the batches before the cut are kept

        proxy.faults.cut_after = None
        again = app.run_once()
    assert again.errors == []
    customers = _customers(app)
    assert len(customers) == len(set(customers)) == 30


def test_stalling_server_times_out_and_the_next_run_recovers(tmp_path, dovecot):
    account = dovecot.new_user("stall")
    dovecot.append(account, [_bulky(n) for n in range(12)])
    with _proxied(dovecot, account) as (proxy, via_proxy):
        app = _app(tmp_path, via_proxy, batch_size=4, timeout=2)
        proxy.faults.stall_after = 60_000
        with structlog.testing.capture_logs() as logs:
            stalled = app.run_once()
        assert proxy.stalls == 1
        assert len(stalled.errors) == 1, stalled.errors
        assert "timed out" in str(stalled.errors[0]).lower() or "timeout" in str(
            stalled.errors[0]).lower(), stalled.errors
        assert _events(logs, "source_failed")

        proxy.faults.stall_after, proxy.faults.delay = None, 0.002  # slow, but it answers
        slow = app.run_once()
    assert slow.errors == []
    assert sorted(_customers(app)) == sorted(f"customer{n}@example.net" for n in range(12))


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 1 MB tmpfs for the SQLite file (real ENOSPC); grown by remount later in the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}", pytrace=False)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_under_sqlite_stops_with_a_clear_line_and_recovers(tmp_path, dovecot, zygote,
                                                                     small_disk):
    account = dovecot.new_user("disk")
    dovecot.append(account, [_bulky(n) for n in range(40)])  # ~1 MB of raw mail
    db = f"sqlite:///{small_disk / 'db.sqlite3'}"
    config = write_config(tmp_path, ConfigSpec(db, [MailboxSpec(account, batch_size=5)],
                                               extra="[daemon]\nlease_seconds = 1\n"))
    assert run_cli(config, "db", "upgrade").returncode == 0
    full = Child(zygote, config)
    code = full.wait()
    stderr = full.stderr.decode()
    assert code == 74, stderr
    assert "Traceback" not in stderr
    assert "database or disk is full" in stderr and "nothing committed is lost" in stderr

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    run_until_clean(zygote, config, pause=1.1)
    app = Ingestd(config)
    customers = _customers(app)
    assert len(customers) == len(set(customers)) == 40
    assert _pending(app) == 0


def test_outbox_disk_full_mid_batch_marks_nothing_sent_without_its_file(tmp_path, dovecot,
                                                                        small_disk):
    """File mode writes a batch of outgoing mails, then marks them sent in one commit: a disk
    that fills mid-batch leaves those rows to retry, and once there is room every mail is
    written exactly once."""
    account = dovecot.new_user("outdisk")
    dovecot.append(account, [complaint(n) for n in range(300)])  # ~600 mails of ~3 KB
    outbox = small_disk / "outbox"
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'db.sqlite3'}",
                                               [MailboxSpec(account)]))
    config.write_text(config.read_text().replace(str(tmp_path / "outbox"), str(outbox)))
    app = Ingestd(config)
    app.drain()
    first = app.send()
    assert first.retried > 0  # the disk filled up
    assert _files_of_sent_rows_exist(app, outbox)

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    later = Ingestd(config, clock=lambda: utcnow() + timedelta(hours=7))  # retries fall due
    later.send()
    with later.services.factory() as session:
        states = dict(session.execute(select(Outbox.state, func.count(Outbox.id))
                                      .group_by(Outbox.state)).all())
        sent = set(session.scalars(select(Outbox.id).where(Outbox.state == "sent")))
    assert set(states) <= {"sent", "digested"}  # (team mail over its hourly cap: a digest)
    assert {int(path.stem) for path in outbox.glob("*.eml")} == sent
    assert not list(outbox.glob(".*.tmp"))


def _files_of_sent_rows_exist(app: Ingestd, outbox: Path) -> bool:
    with app.services.factory() as session:
        sent = set(session.scalars(select(Outbox.id).where(Outbox.state == "sent")))
    return bool(sent) and all((outbox / f"{row_id:08d}.eml").stat().st_size > 0
                              for row_id in sent)
