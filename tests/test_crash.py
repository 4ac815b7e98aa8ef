"""Crash safety: SIGKILL, dropped database connections and a refusing SMTP server.

A support team trusts the daemon only if it loses nothing and doubles nothing when things
go wrong. Each test drains a corpus of complaints (one distinct customer per mail) from a
real Dovecot through `ingestd run --once` subprocesses that are disturbed again and again,
then runs until clean and counts: every mail is a case or in quarantine, no case twice,
no acknowledgment or team notification twice. Acknowledgments lost by a kill between the
sender's "sent" commit and the final "." of DATA are allowed (never doubled, by design of
ingestd/mailout/sender.py) but counted and printed.

Sizes: INGESTD_CRASH_MAILS (default 120) and INGESTD_CRASH_KILLS (default 15).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
import structlog.testing
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from storage import Outbox
from tests.crashkit import (
    Child,
    Tally,
    Zygote,
    deliver_after_claims_expire,
    run_until_clean,
    tally,
    zygote_server,
)
from tests.support import ConfigSpec, MailboxSpec, complaint, run_cli, write_config

MAILS = int(os.environ.get("INGESTD_CRASH_MAILS", "120"))
KILLS = int(os.environ.get("INGESTD_CRASH_KILLS", "15"))
SEED = int(os.environ.get("INGESTD_CRASH_SEED", str(random.randrange(1 << 30))))  # noqa: S311  (a reproducible crash schedule, not cryptography)
# A killed run holds its folder lease: keep it short so the restart can take over at once.
FAST_LEASE = "[daemon]\nlease_seconds = 1\n"


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    yield from zygote_server()


def _config(tmp_path, account, db_url, sink, batch_size=20):
    spec = ConfigSpec(db_url, [MailboxSpec(account, batch_size=batch_size)],
                      smtp_port=sink.port, extra=FAST_LEASE)
    config = write_config(tmp_path, spec)
    upgraded = run_cli(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return config


def _assert_nothing_lost_nothing_doubled(result: Tally, mails: int) -> None:
    assert result.raw_by_state.get("pending", 0) == 0, result.raw_by_state
    assert result.raw_by_state.get("done", 0) + result.quarantined == mails, result.raw_by_state
    assert result.cases == result.distinct_customers == mails - result.quarantined
    assert result.doubled_acks == {}, f"acknowledged twice: {result.doubled_acks}"
    assert result.doubled_notes == {}, f"team notified twice: {result.doubled_notes}"
    assert len(result.ack_rows) == result.cases  # one acknowledgment row per case


def _kill_plan(rng: random.Random, kills: int) -> list[tuple[str, int, float]]:
    """(event to wait for, how many of it, extra delay) per kill, cycling through phases.

    "time" kills land in start-up and the first IMAP fetch; "batch_stored" right after a
    batch's raw bytes were committed; "message" in the middle of a processing transaction;
    "mail_sent" between two deliveries, the jitter sometimes inside an SMTP transaction.
    """
    kinds = ["time", "batch_stored", "message", "mail_sent"]
    plan = []
    for i in range(kills):
        kind = kinds[i % len(kinds)]
        count = {"time": 0, "batch_stored": 1, "message": rng.randint(1, 15),
                 "mail_sent": rng.randint(1, 20)}[kind]
        delay = rng.uniform(0.2, 1.2) if kind == "time" else rng.uniform(0, 0.03)
        plan.append((kind, count, delay))
    return plan


def test_sigkill_at_random_points_loses_and_doubles_nothing(tmp_path, dovecot, smtp_sink, zygote):
    rng = random.Random(SEED)  # noqa: S311  (reproducible chaos, not crypto)
    account = dovecot.new_user("crash")
    corpus = [complaint(n) for n in range(MAILS)]
    size = max(30, MAILS // 4)
    waves = [corpus[i:i + size] for i in range(0, MAILS, size)]
    db_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    config = _config(tmp_path, account, db_url, smtp_sink)
    dovecot.append(account, waves.pop(0))

    phases: dict[str, int] = {}
    plan = _kill_plan(rng, 3 * KILLS)
    while sum(phases.values()) < KILLS and plan:
        kind, count, delay = plan.pop(0)
        child = Child(zygote, config)
        if kind != "time" and not child.wait_event(kind, count, timeout=60):
            child.wait()
            if waves:  # it finished first, no crash this time: more mail comes in
                dovecot.append(account, waves.pop(0))
            continue
        time.sleep(delay)
        phase = child.last_phase()
        if child.kill():
            phases[phase] = phases.get(phase, 0) + 1
    for wave in waves:
        dovecot.append(account, wave)
    run_until_clean(zygote, config)
    with structlog.testing.capture_logs():
        late = deliver_after_claims_expire(config)

    result = tally(db_url, smtp_sink)
    print(f"\ncrash(seed={SEED}): {MAILS} mails, {sum(phases.values())} kills by phase {phases}, "
          f"cases {result.cases}, acks received {sum(result.acks_by_recipient.values())}, "
          f"{late} mails held by a killed run's claim until it ran out, "
          f"acks lost {len(result.lost_acks)} {result.lost_acks}, doubled {result.doubled_acks}")
    assert sum(phases.values()) >= KILLS // 2, f"too few real crashes: {phases}"
    _assert_nothing_lost_nothing_doubled(result, MAILS)
    assert late == 0  # a restart takes over a killed run's outbox claims at once
    assert len(result.lost_acks) <= phases.get("send", 0)
    for recipient in result.lost_acks:  # lost only where the sender said it might lose one
        assert (result.ack_rows[recipient][1] or "").startswith("unconfirmed"), recipient


def _terminate_backends(pg_admin_url: str, dbname: str, stop: threading.Event,
                        rng: random.Random, hits: list[int]) -> None:
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        while not stop.wait(rng.uniform(0.05, 0.4)):
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchall()
            hits.append(len(rows))


def test_database_connections_dropped_while_draining(tmp_path, dovecot, smtp_sink, fresh_pg_url,
                                                     zygote):
    rng = random.Random(SEED)  # noqa: S311  (a reproducible crash schedule, not cryptography)
    mails = max(MAILS // 2, 60)
    account = dovecot.new_user("pgdrop")
    dovecot.append(account, [complaint(n) for n in range(mails)])
    config = _config(tmp_path, account, fresh_pg_url, smtp_sink)
    url = make_url(fresh_pg_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)

    stop, hits, runs, failed_runs = threading.Event(), [], 0, []
    killer = threading.Thread(target=_terminate_backends,
                              args=(admin, url.database, stop, rng, hits), daemon=True)
    killer.start()
    try:
        for runs in range(1, 5):  # noqa: B007  (the count is reported)
            child = Child(zygote, config)
            if child.wait() != 0:
                failed_runs.append(child.stderr.decode(errors="replace").strip().splitlines()[-1:])
    finally:
        stop.set()
        killer.join(5)
    run_until_clean(zygote, config, pause=0.1)

    result = tally(fresh_pg_url, smtp_sink)
    print(f"\npg-drop(seed={SEED}): {mails} mails, {runs} disturbed runs, "
          f"{sum(hits)} backends terminated, {len(failed_runs)} runs failed {failed_runs[:3]}, "
          f"acks lost {len(result.lost_acks)}")
    assert sum(hits) > 0
    _assert_nothing_lost_nothing_doubled(result, mails)
    assert result.lost_acks == []  # no process died: every DATA was finished or never sent


def test_smtp_refusing_then_accepting_sends_each_mail_once(tmp_path, dovecot, smtp_sink, zygote):
    mails = 40
    account = dovecot.new_user("refuse")
    dovecot.append(account, [complaint(n) for n in range(mails)])
    db_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    config = _config(tmp_path, account, db_url, smtp_sink)

    smtp_sink.refusing = True  # 451 at the end of DATA: the server had the whole mail
    first = Child(zygote, config)
    assert first.wait() == 0, first.text()
    assert smtp_sink.messages == [] and smtp_sink.refused >= mails
    engine = create_engine(db_url)
    with engine.connect() as conn:  # one refused transaction is one attempt, not two
        assert sum(conn.scalars(select(Outbox.attempts))) == smtp_sink.refused
    engine.dispose()
    smtp_sink.refusing = False
    smtp_sink.refuse_stage = "rcpt"
    smtp_sink.refuse_next(10)  # a few more refusals, earlier in the transaction
    run_until_clean(zygote, config, attempts=8, pause=0.2)

    result = tally(db_url, smtp_sink)
    _assert_nothing_lost_nothing_doubled(result, mails)
    assert result.lost_acks == []
    assert sorted(result.acks_by_recipient) == sorted(f"customer{n}@example.net"
                                                      for n in range(mails))
    assert all(state == "sent" for state, _ in result.ack_rows.values())
