"""`ingestd run` as systemd runs it: a subprocess against real Dovecot and an SMTP sink.

Also the harness the other daemon tests use (RunningDaemon, daemon_config).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storage import make_engine, upgrade
from tests.servers import Account, DovecotServer, SmtpSink, free_port, wait_for
from tests.support import REPO, ConfigSpec, MailboxSpec, complaint, write_config

FAST_DAEMON = """
[daemon]
poll_interval = 0.5
lease_seconds = 6
sweep_interval = 3600
mailbox_unreachable_after = {unreachable}
metrics_host = "127.0.0.1"
metrics_port = {port}
"""


def daemon_config(directory: Path, db_url: str, boxes: list[MailboxSpec], smtp: SmtpSink,
                  *, unreachable: float = 300, metrics_port: int | None = None) -> Path:
    """A config.toml for a daemon under test: quick polls and leases, metrics on a free port."""
    extra = FAST_DAEMON.format(unreachable=unreachable, port=metrics_port or free_port())
    path = write_config(directory, ConfigSpec(db_url=db_url, mailboxes=boxes,
                                              smtp_port=smtp.port, extra=extra))
    if model := os.environ.get("INGESTD_TEST_MODEL"):  # a model other than the repo's
        default = str(REPO / "models" / "current.skops")
        path.write_text(path.read_text(encoding="utf-8").replace(default, model), encoding="utf-8")
    migrate(db_url)
    return path


def migrate(db_url: str) -> None:
    """`ingestd db upgrade`, in this process (the imports are paid already)."""
    engine = make_engine(db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


class RunningDaemon:
    """`ingestd --config X run` in a subprocess, its output kept in a log file."""

    def __init__(self, config_path: Path, log_file: Path,
                 env: dict[str, str] | None = None) -> None:
        self.log_file = log_file
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingestd", "--config", str(config_path), "run"],
            cwd=REPO, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=log_file.open("ab"), stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"daemon did not stop within {timeout}s:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-6000:]


@dataclass
class Rig:
    """A test's servers: Dovecot with a fresh mailbox, an SMTP sink, a SQLite database."""

    tmp_path: Path
    dovecot: DovecotServer
    account: Account
    sink: SmtpSink
    db_url: str

    def config(self, **kwargs: Any) -> Path:
        return daemon_config(self.tmp_path, self.db_url, [MailboxSpec(self.account)], self.sink,
                             **kwargs)

    def start(self, cfg: Path, env: dict[str, str] | None = None) -> RunningDaemon:
        return RunningDaemon(cfg, self.tmp_path / "daemon.log", env)


@pytest.fixture
def rig(tmp_path: Path, dovecot: DovecotServer, imap_account: Account,
        smtp_sink: SmtpSink) -> Rig:
    return Rig(tmp_path, dovecot, imap_account, smtp_sink,
               f"sqlite:///{tmp_path / 'ingestd.sqlite3'}")


def count(db_url: str, query: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def acks(sink: SmtpSink) -> list[str]:
    """Recipients of the acknowledgments the sink received (one per customer mail)."""
    return [m.rcpt_tos[0] for m in sink.messages if m.message["Auto-Submitted"]
            and "customer" in m.rcpt_tos[0]]


class NotifyListener:
    """Stands in for systemd: reads sd_notify datagrams on an abstract socket as they come."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name[1:])
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._open = True
        self._thread.start()

    def _read(self) -> None:
        while self._open:
            try:
                self.messages += self.sock.recv(4096).decode().split("\n")
            except TimeoutError:
                continue

    def close(self) -> None:
        self._open = False
        self._thread.join()
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(f"@ingestd-test-{os.getpid()}-{tmp_path.name}")
    yield listener
    listener.close()


def test_run_acknowledges_new_mail_and_stops_cleanly(rig: Rig,
                                                      notify_socket: NotifyListener) -> None:
    daemon = rig.start(rig.config(), env={"NOTIFY_SOCKET": notify_socket.name,
                                          "WATCHDOG_USEC": "2000000"})
    try:
        wait_for(lambda: "READY=1" in notify_socket.messages, 20, 0.05, "READY=1")
        wait_for(lambda: '"watching"' in daemon.log(), 10, 0.05, "the watcher in IDLE")
        time.sleep(0.3)
        started = time.monotonic()
        rig.dovecot.append(rig.account, complaint(1))
        rig.sink.wait_for(1, timeout=10)
        elapsed = time.monotonic() - started
        wait_for(lambda: "WATCHDOG=1" in notify_socket.messages, 5, 0.05, "a watchdog ping")
        stopping = time.monotonic()
    finally:
        code = daemon.stop()
        print(daemon.log())  # shown when the test fails
    assert code == 0
    assert time.monotonic() - stopping < 5
    assert elapsed < 2.0, f"acknowledged after {elapsed:.2f}s"
    seen = notify_socket.messages
    assert "WATCHDOG=1" in seen
    assert any(m.startswith("STATUS=") for m in seen)
    assert "STOPPING=1" in seen
    assert count(rig.db_url, "SELECT count(*) FROM folder_state WHERE lease_owner IS NOT NULL") == 0


def customers(sink: SmtpSink) -> list[str]:
    """Customers who got an acknowledgment, once per acknowledgment."""
    return sorted(m.rcpt_tos[0] for m in sink.messages if "@example.net" in m.rcpt_tos[0])


def test_dovecot_restart_mid_run_loses_nothing(rig: Rig) -> None:
    daemon = rig.start(rig.config())
    try:
        rig.dovecot.append(rig.account, [complaint(n) for n in range(10)])
        rig.dovecot.restart(kill=True)
        rig.dovecot.append(rig.account, [complaint(n) for n in range(10, 20)])
        wait_for(lambda: len(customers(rig.sink)) >= 20, 30, 0.1, "20 acknowledgments")
        time.sleep(1)  # nothing more may come
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert customers(rig.sink) == sorted(f"customer{n}@example.net" for n in range(20))
    assert count(rig.db_url, "SELECT count(*) FROM \"case\"") == 20


def test_polling_when_idle_is_off(rig: Rig) -> None:
    cfg = rig.config()
    cfg.write_text(cfg.read_text().replace("timeout = 10\n", "timeout = 10\nidle = false\n"))
    daemon = rig.start(cfg)
    try:
        wait_for(lambda: '"idle": false' in daemon.log(), 20, 0.05, "the watcher polling")
        rig.dovecot.append(rig.account, complaint(1))
        rig.sink.wait_for(1, timeout=5)
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_sighup_reloads_configuration(rig: Rig) -> None:
    daemon = rig.start(rig.config())
    try:
        wait_for(lambda: '"watching"' in daemon.log(), 20, 0.05, "the INBOX watcher")
        rig.dovecot.create_folder(rig.account, "Urgent")
        daemon_config(rig.tmp_path, rig.db_url, [MailboxSpec(rig.account, folders=(
            "INBOX", "Urgent"))], rig.sink)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: '"reloaded"' in daemon.log(), 10, 0.05, "the reload")
        rig.dovecot.append(rig.account, complaint(7), folder="Urgent")
        assert customers(rig.sink.wait_for(1, timeout=10) and rig.sink) == [
            "customer7@example.net"]
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_a_backlog_gets_the_parse_workers_and_a_reload_stops_them(rig: Rig) -> None:
    """The daemon's batches are small (20 mails): a full one is a backlog, not a trickle.

    The workers fork as the daemon starts, before its threads, for the backlog that waited;
    once threads run, a new pool spawns its workers instead.
    """
    rig.dovecot.append(rig.account, [complaint(n) for n in range(60)])
    daemon = rig.start(rig.config())
    try:
        wait_for(lambda: len(customers(rig.sink)) == 60, 60, 0.1, "60 acknowledgments")
        assert _pool_starts(daemon) == ["fork"]
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: '"reloaded"' in daemon.log(), 10, 0.05, "the reload")
        assert '"reason": "configuration reloaded"' in daemon.log()  # not left running
        rig.dovecot.append(rig.account, [complaint(n) for n in range(60, 120)])
        wait_for(lambda: len(customers(rig.sink)) == 120, 60, 0.1, "120 acknowledgments")
        assert _pool_starts(daemon) == ["fork", "spawn"]
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert customers(rig.sink) == sorted(f"customer{n}@example.net" for n in range(120))


def _pool_starts(daemon: RunningDaemon) -> list[str]:
    """How each worker pool of the daemon started, from its log (log() is only the tail)."""
    lines = daemon.log_file.read_text().splitlines()
    return [json.loads(line)["start"] for line in lines if '"workers_started"' in line]


def test_unit_file_passes_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: install the Debian package systemd "
                    "(bash .ci/setup does)")
    unit = (REPO / "ingestd" / "systemd" / "ingestd.service").read_text(encoding="utf-8")
    for key in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "User=ingestd",
                "ProtectSystem=strict", "StateDirectory=ingestd", "NoNewPrivileges=yes"):
        assert key in unit
    # verify insists that ExecStart exists: point it at this checkout's ingestd.
    local = tmp_path / "ingestd.service"
    local.write_text(unit.replace("/opt/ingestd/bin/ingestd", str(Path(sys.executable).parent /
                                                                 "ingestd")), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
