"""Prometheus metrics and /healthz: served by the daemon, read from its counters and the DB."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ingestd.service.health import Health
from ingestd.service.metrics import Metrics
from tests.servers import Account, DovecotServer, SmtpSink, free_port, wait_for
from tests.support import MailboxSpec, complaint
from tests.test_daemon import Rig, daemon_config


@pytest.fixture
def rig(tmp_path: Path, dovecot: DovecotServer, imap_account: Account,
        smtp_sink: SmtpSink) -> Rig:
    return Rig(tmp_path, dovecot, imap_account, smtp_sink,
               f"sqlite:///{tmp_path / 'ingestd.sqlite3'}")


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_health_turns_503_when_a_folder_stays_unreachable() -> None:
    now = [1000.0]
    health = Health(60, Metrics(), clock=lambda: now[0])
    health.starting("support", "INBOX")
    assert health.report()[0]
    now[0] += 30
    health.down("support", "INBOX", "connection refused")
    assert health.report()[0]  # within the grace period
    now[0] += 31
    healthy, body = health.report()
    assert not healthy
    assert body["folders"]["support/INBOX"]["error"] == "connection refused"
    health.ok("support", "INBOX")
    assert health.report()[0]


def test_daemon_serves_metrics_and_health(rig: Rig) -> None:
    port = free_port()
    daemon = rig.start(rig.config(metrics_port=port))
    try:
        wait_for(lambda: '"watching"' in daemon.log(), 20, 0.05, "the watcher")
        rig.dovecot.append(rig.account, complaint(3))
        rig.sink.wait_for(1, timeout=10)
        wait_for(lambda: "ingestd_messages_processed_total{" in get(port, "/metrics")[1], 5)
        status, text = get(port, "/metrics")
        code, body = get(port, "/healthz")
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert status == 200
    assert 'ingestd_messages_fetched_total{folder="INBOX",mailbox="support"} 1.0' in text
    assert 'ingestd_messages_processed_total{mailbox="support",outcome="new_case"} 1.0' in text
    assert "ingestd_processing_seconds_count 1.0" in text
    assert 'ingestd_cases{category="' in text
    assert 'ingestd_acknowledgments{state="sent"} 1.0' in text
    assert 'ingestd_outbox_backlog' in text
    assert 'ingestd_sla_breaches{deadline="acknowledge"} 0.0' in text
    assert 'ingestd_folder_last_success_timestamp_seconds{folder="INBOX",mailbox="support"}' in text
    assert code == 200
    assert json.loads(body)["folders"]["support/INBOX"]["state"] == "ok"


def test_health_503_for_an_unreachable_mailbox(rig: Rig, tmp_path: Path) -> None:
    dead = Account(host="127.0.0.1", port=free_port(), username="nobody@example.test",
                   password="x")
    port = free_port()
    cfg = daemon_config(tmp_path, rig.db_url, [MailboxSpec(dead)], rig.sink, unreachable=1,
                        metrics_port=port)
    daemon = rig.start(cfg)
    try:
        wait_for(lambda: get(port, "/healthz")[0] == 503 if _listening(port) else False, 20, 0.1)
        body = json.loads(get(port, "/healthz")[1])
        assert "ingestd_folder_up{" in get(port, "/metrics")[1]
    finally:
        assert daemon.stop() == 0, daemon.log()
    folder = body["folders"]["support/INBOX"]
    assert folder["state"] == "down" and "cannot connect" in folder["error"]


def _listening(port: int) -> bool:
    try:
        get(port, "/healthz")
    except OSError:
        return False
    return True
