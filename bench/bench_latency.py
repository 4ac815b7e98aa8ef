"""Arrival-to-acknowledgment latency of `ingestd run`: APPEND a complaint, time the ack.

Starts its own Dovecot and SMTP sink (the test fixtures' classes), a SQLite database (or
--db URL) and the daemon as a subprocess; prints p50/p95/max over --arrivals mails.

The baseline, measured in the same run against the same Dovecot, is the floor no IMAP
client can beat: a bare imapclient waiting in IDLE until the server reports the APPEND
(Dovecot pushes new mail at its notify interval). The ratio says how much ingestd adds on
top of hearing about the mail: fetch, store, triage, compose and the SMTP delivery.

    .venv/bin/python bench/bench_latency.py [--arrivals 100] [--db postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import SmtpSink, _start_dovecot, wait_for
from tests.support import MailboxSpec, complaint
from tests.test_daemon import RunningDaemon, daemon_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=int, default=100)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ingestd-bench-"))
    dovecot, sink = _start_dovecot(tls=False), SmtpSink()
    sink.start()
    try:
        baseline = [idle_push(dovecot, dovecot.new_user("floor"), n)
                    for n in range(args.arrivals)]
        account = dovecot.new_user("bench")
        db = args.db or f"sqlite:///{work / 'bench.sqlite3'}"
        cfg = daemon_config(work, db, [MailboxSpec(account)], sink)
        daemon = RunningDaemon(cfg, work / "daemon.log")
        try:
            wait_for(lambda: '"watching"' in daemon.log(), 60, 0.05, "the daemon watching")
            latencies = [arrival(dovecot, account, sink, n) for n in range(args.arrivals)]
        finally:
            code = daemon.stop()
        report("IDLE push to a bare client (baseline)", baseline)
        report("ingestd: arrival to acknowledgment", latencies, baseline)
        print(f"daemon exit code: {code}")
    finally:
        sink.stop()
        dovecot.close()


def idle_push(dovecot: Any, account: Any, n: int) -> float:
    """Seconds from APPEND until a client in IDLE hears of the new mail."""
    with dovecot.connect(account) as client:
        client.select_folder("INBOX")
        client.idle()
        started = time.monotonic()
        dovecot.append(account, complaint(n))
        while not any(b"EXISTS" in bytes(r[1:2][0]) for r in client.idle_check(timeout=30)
                      if len(r) > 1):
            pass
        elapsed = time.monotonic() - started
        client.idle_done()
    return elapsed


def arrival(dovecot: Any, account: Any, sink: SmtpSink, n: int) -> float:
    """One complaint in, seconds until its acknowledgment is in the sink."""
    customer = f"customer{n}@example.net"
    started = time.monotonic()
    dovecot.append(account, complaint(n))
    wait_for(lambda: any(m.rcpt_tos[0] == customer for m in sink.messages), 30, 0.005,
             f"acknowledgment {n}")
    return time.monotonic() - started


def report(what: str, latencies: list[float], baseline: list[float] | None = None) -> None:
    ordered = sorted(latencies)
    p50, p95 = statistics.median(ordered), ordered[max(int(len(ordered) * 0.95) - 1, 0)]
    line = (f"{what:40s} p50 {p50 * 1000:5.0f} ms  p95 {p95 * 1000:5.0f} ms  "
            f"max {ordered[-1] * 1000:5.0f} ms")
    if baseline:
        line += f"  ({p50 / statistics.median(baseline):.2f}x the baseline p50)"
    print(line)


if __name__ == "__main__":
    main()
