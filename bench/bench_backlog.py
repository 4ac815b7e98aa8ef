"""How soon a backlog is fully acknowledged: `ingestd run --once` until the last outgoing file.

Starts its own Dovecot (the test fixtures' class), APPENDs --mails short complaint mails and,
in one run on one machine:

* ceiling: imapclient batched FETCH of the whole folder plus ingestd's parser on every mail,
  in this process (what any IMAP reader must do at least);
* run --once: the `ingestd` command as an admin starts it, as a separate process, on a fresh
  SQLite database with outgoing mail written as files; timed from the start of the process
  to its exit, with the times of the first and the last outgoing file written.

Each checkout given with --checkout (default: this one) is run in turn, alternating over
--repeat rounds, with this repository's virtual environment and the checkout first on the
import path, so a before/after comparison runs in the same conditions:

    .venv/bin/python bench/bench_backlog.py [--mails 3000] [--checkout OTHER --checkout .]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import DEFAULT_MODEL, ROOT, bench_config
from bench_drain import fetch_all

from ingestd.message import parse_bytes
from tests.servers import Account, DovecotServer, _start_dovecot
from tests.support import complaint

TARGET = 4.0  # "at least 4x sooner than today"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--checkout", type=Path, action="append",
                        help="a checkout of ingestd to time (repeatable; default this one)")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkout or [ROOT]]
    work = Path(tempfile.mkdtemp(prefix="ingestd-backlog-"))
    dovecot = _start_dovecot(tls=False)
    try:
        account = dovecot.new_user("backlog")
        dovecot.append(account, [complaint(n, message_id=f"<backlog-{n}@customer.example>")
                                 for n in range(args.mails)])
        fetch_all(account, 500, None)  # warm the server's caches
        started = time.perf_counter()
        fetch_all(account, 500, parse_bytes)
        ceiling = time.perf_counter() - started
        print(f"{args.mails} short complaint mails; fetch+parse ceiling {ceiling:.2f} s "
              f"({args.mails / ceiling:.0f} msg/s)")
        timings: dict[Path, list[float]] = {c: [] for c in checkouts}
        for n in range(args.repeat):
            for checkout in checkouts:
                timings[checkout].append(
                    run_once(checkout, work / f"{checkout.name}-{n}", account, dovecot, ceiling))
        summarise(timings, ceiling)
    finally:
        dovecot.close()


def run_once(checkout: Path, directory: Path, account: Account, dovecot: DovecotServer,
             ceiling: float) -> float:
    """Seconds from the start of `ingestd run --once` to the last outgoing file written."""
    config = bench_config(directory, f"sqlite:///{directory / 'ingestd.db'}", account,
                          DEFAULT_MODEL)
    if "[floods]" not in (checkout / "config.toml").read_text(encoding="utf-8"):
        # a checkout from before the flood caps: it has none to lift (and refuses the key)
        text = config.read_text(encoding="utf-8")
        config.write_text(text[:text.index("[floods]")], encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(checkout), "INGESTD_CONFIG": str(config)}
    run = {"env": env, "cwd": checkout, "capture_output": True}  # (-m looks in cwd first)
    subprocess.run([sys.executable, "-m", "ingestd", "db", "upgrade"], check=True, **run)
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "ingestd", "run", "--once"], text=True,
                          check=False, **run)
    ended = time.time()
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: run --once failed:\n{done.stderr[-2000:]}")
    files = [p.stat().st_mtime for p in (directory / "outbox").glob("*.eml")]
    first, last = min(files) - started, max(files) - started
    print(f"  {checkout.name:<12} {len(files)} mails out: first after {first:5.2f} s, last "
          f"after {last:5.2f} s ({last / ceiling:5.1f}x the ceiling), exit after "
          f"{ended - started:5.2f} s")
    return last


def summarise(timings: dict[Path, list[float]], ceiling: float) -> None:
    medians = {c: statistics.median(t) for c, t in timings.items()}
    for checkout, median in medians.items():
        print(f"{checkout.name:<12} last acknowledgment out after {median:.2f} s "
              f"(median), {median / ceiling:.1f}x the fetch+parse ceiling")
    if len(medians) == 2:
        (before, slow), (after, fast) = medians.items()
        print(f"{after.name} acknowledges the whole backlog {slow / fast:.1f}x sooner than "
              f"{before.name} (target {TARGET}x)")


if __name__ == "__main__":
    main()
