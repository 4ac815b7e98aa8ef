"""Two daemons on one PostgreSQL database and the same mailboxes: every mail handled once.

Each folder is worked by one instance at a time (its lease); the outbox is shared with
FOR UPDATE SKIP LOCKED. One instance stops half-way, so the other must take its folders.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from tests.servers import DovecotServer, SmtpSink, wait_for
from tests.support import MailboxSpec, complaint
from tests.test_daemon import RunningDaemon, count, daemon_config

MAILS = int(os.environ.get("INGESTD_TEST_INSTANCE_MAILS", "200"))


def test_two_instances_process_each_mail_once(tmp_path: Path, dovecot: DovecotServer,
                                               smtp_sink: SmtpSink, fresh_pg_url: str) -> None:
    accounts = [dovecot.new_user("inst"), dovecot.new_user("inst")]
    boxes = [MailboxSpec(accounts[0], name="support"), MailboxSpec(accounts[1], name="sales")]
    daemons = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        cfg = daemon_config(tmp_path / name, fresh_pg_url, boxes, smtp_sink)
        daemons.append(RunningDaemon(cfg, tmp_path / name / "daemon.log"))
    half, quarter = MAILS // 2, MAILS // 4
    try:
        wait_for(lambda: all('"started"' in d.log() for d in daemons), 30, 0.1)
        for box in range(2):
            dovecot.append(accounts[box], [complaint(n) for n in range(box * quarter,
                                                                       (box + 1) * quarter)])
        wait_for(lambda: count(fresh_pg_url, "SELECT count(*) FROM raw_message") >= quarter, 30)
        assert daemons[0].stop() == 0, daemons[0].log()  # mid-run: b must take over
        for box in range(2):
            dovecot.append(accounts[box], [complaint(n) for n in range(
                half + box * quarter, half + (box + 1) * quarter)])
        wait_for(lambda: len(_customers(smtp_sink)) >= MAILS, max(60, MAILS / 5), 0.2,
                 f"{MAILS} acks")
    finally:
        for daemon in daemons:
            assert daemon.stop() == 0, daemon.log()
    acks = Counter(_customers(smtp_sink))
    assert len(acks) == MAILS and set(acks.values()) == {1}
    assert count(fresh_pg_url, 'SELECT count(*) FROM "case"') == MAILS
    assert count(fresh_pg_url, "SELECT count(DISTINCT customer_address) FROM \"case\"") == MAILS


def _customers(sink: SmtpSink) -> list[str]:
    return [m.rcpt_tos[0] for m in sink.messages if "@example.net" in m.rcpt_tos[0]]
