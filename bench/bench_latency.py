"""Arrival-to-acknowledgment latency of `ingestd run`: APPEND a complaint, time the ack.

Starts its own Dovecot and SMTP sink (the test fixtures' classes), a SQLite database (or
--db URL) and the daemon as a subprocess; prints p50/p95/max over --arrivals mails.

    .venv/bin/python bench/bench_latency.py [--arrivals 100] [--db postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
        account = dovecot.new_user("bench")
        db = args.db or f"sqlite:///{work / 'bench.sqlite3'}"
        cfg = daemon_config(work, db, [MailboxSpec(account)], sink)
        daemon = RunningDaemon(cfg, work / "daemon.log")
        try:
            wait_for(lambda: '"watching"' in daemon.log(), 60, 0.05, "the daemon watching")
            latencies = [arrival(dovecot, account, sink, n) for n in range(args.arrivals)]
        finally:
            code = daemon.stop()
        report(latencies, code)
    finally:
        sink.stop()
        dovecot.close()


def arrival(dovecot: object, account: object, sink: SmtpSink, n: int) -> float:
    """One complaint in, seconds until its acknowledgment is in the sink."""
    customer = f"customer{n}@example.net"
    started = time.monotonic()
    dovecot.append(account, complaint(n))  # type: ignore[attr-defined]
    wait_for(lambda: any(m.rcpt_tos[0] == customer for m in sink.messages), 30, 0.005,
             f"acknowledgment {n}")
    return time.monotonic() - started


def report(latencies: list[float], code: int) -> None:
    ordered = sorted(latencies)
    p95 = ordered[max(int(len(ordered) * 0.95) - 1, 0)]
    print(f"arrivals: {len(ordered)}  p50: {statistics.median(ordered) * 1000:.0f} ms  "
          f"p95: {p95 * 1000:.0f} ms  max: {ordered[-1] * 1000:.0f} ms  "
          f"daemon exit code: {code}")


if __name__ == "__main__":
    main()
