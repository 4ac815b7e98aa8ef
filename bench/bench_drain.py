"""End-to-end drain rate of an IMAP backlog, against its ceiling and a naive loop, same run.

Starts its own Dovecot (the test fixtures' class), APPENDs --mails varied mails (see
bench/_setup.py) and measures, on one machine in one run:

* raw fetch: imapclient batched FETCH BODY.PEEK[] of the whole folder (nothing else);
* ceiling: the same fetch plus ingestd.message.parse_bytes on every mail;
* floor: the work the libraries must do per mail and nothing else (bench/_floor.py), whose
  CPU per mail over every process (ingestd, Dovecot, the PostgreSQL server) bounds what any
  drain built on them can reach on this machine's cores;
* drain: ingestd's drain_all (fetch, store with the folder state, parse, thread, triage,
  outbox) into a fresh SQLite file and a fresh PostgreSQL database;
* naive: the same pipeline with one FETCH and one commit per message (on --naive-mails
  mails, beside the batched drain of that same smaller mailbox).

    .venv/bin/python bench/bench_drain.py [--mails 10000] [--naive-mails 2000] [--db sqlite]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from _floor import CpuMeter, CpuUse, Floor, server_pid
from _setup import DEFAULT_MODEL, Corpus, bench_config, fill
from imapclient import IMAPClient

from ingestd import logs
from ingestd.intake import DrainReport, commit_batch, resync
from ingestd.message import parse_bytes
from ingestd.pipeline import process_pending
from ingestd.sources import ImapSource
from ingestd.sources.delivery import Delivery
from ingestd.sources.imap import FolderBatch
from tests.servers import Account, DovecotServer, PgServer, _start_dovecot
from tests.support import Ingestd

TARGETS = {"sqlite": 0.7, "postgresql": 0.5}
NAIVE_TARGET = 3.0
CORES = len(os.sched_getaffinity(0))


class Run(NamedTuple):
    rate: float  # mails a second
    cpu: CpuUse  # over every process that worked for it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--naive-mails", type=int, default=2_000,
                        help="mails for the naive comparison (it is slow); 0 skips it")
    parser.add_argument("--repeat", type=int, default=3,
                        help="batched/naive pairs, alternating; the median ratio is the figure")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--batch-size", type=int, default=500, help="UIDs per FETCH")
    parser.add_argument("--workers", type=int, default=None,
                        help="[daemon] workers: parse-and-score processes (default: ingestd's)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="triage model file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ingestd-bench-"))
    logs.configure("info", "json", (work / "ingestd.log").open("w", encoding="utf-8"))
    dovecot = _start_dovecot(tls=False)
    try:
        run(args, work, dovecot)
    finally:
        dovecot.close()


def run(args: argparse.Namespace, work: Path, dovecot: DovecotServer) -> None:
    corpus = Corpus()
    big, small = dovecot.new_user("bench"), dovecot.new_user("naive")
    started = time.perf_counter()
    fill(dovecot, big, corpus, args.mails)
    fill(dovecot, small, corpus, args.naive_mails)
    print(f"{args.mails} + {args.naive_mails} mails appended in "
          f"{time.perf_counter() - started:.0f} s; work directory {work}")
    fetch_all(big, args.batch_size, None)  # warm the server's caches for every contender
    raw = rate(args.mails, lambda: fetch_all(big, args.batch_size, None))
    meter = CpuMeter(dovecot.pid)
    before = meter.read()
    ceiling = rate(args.mails, lambda: fetch_all(big, args.batch_size, parse_bytes))
    print(f"raw imapclient fetch    {raw:9.0f} msg/s")
    print(f"fetch+parse ceiling     {ceiling:9.0f} msg/s   "
          f"{meter.since(before).describe(args.mails)}")
    for backend in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with database(backend, work, 2 + 2 * args.repeat) as urls:
            against_floor(backend, work, urls[:2], big, args, dovecot=dovecot.pid, raw=raw,
                          ceiling=ceiling)
            if args.naive_mails:
                naive_comparison(work / backend, urls[2:], small, args)


def against_floor(backend: str, work: Path, urls: list[str], account: Account,
                  args: argparse.Namespace, *, dovecot: int | None, raw: float,
                  ceiling: float) -> None:
    """The floor and the bound its CPU sets on these cores, then the drain against both."""
    floor = floor_run(work / f"{backend}-floor", urls[0], account, args, dovecot)
    best = CORES * 1000 / floor.cpu.per_mail_ms(args.mails)
    print(f"floor {backend:<17} {floor.rate:9.0f} msg/s   {floor.cpu.describe(args.mails)}\n"
          f"  so on {CORES} cores, perfectly parallel, at most {best:.0f} msg/s: "
          f"{best / ceiling:4.2f}x of the ceiling")
    drained = drain_rate(work / f"{backend}-drain", urls[1], account, args, dovecot)
    print(f"drain {backend:<17} {drained.rate:9.0f} msg/s   "
          f"{drained.cpu.describe(args.mails)}\n"
          f"  {drained.rate / ceiling:4.2f}x of the ceiling (target {TARGETS[backend]}x), "
          f"{drained.rate / best:4.2f}x of the floor's bound, "
          f"{drained.rate / raw:4.2f}x of raw fetch")


def naive_comparison(work: Path, urls: list[str], account: Account,
                     args: argparse.Namespace) -> None:
    """Batched and naive drains of the same mailbox, alternating, each into a fresh database.

    On a shared machine one pair can be off by a third; the median of the pairs' ratios
    is the figure.
    """
    ratios = []
    for n in range(args.repeat):
        batched = drain_rate(work / f"batched{n}", urls[2 * n], account, args).rate
        naive = drain_rate(work / f"naive{n}", urls[2 * n + 1], account, args,
                           drain=naive_drain).rate
        ratios.append(batched / naive)
        print(f"  on {args.naive_mails} mails: batched {batched:7.0f} msg/s, naive (one FETCH "
              f"and commit per mail) {naive:7.0f} msg/s: {batched / naive:5.2f}x")
    print(f"  batched vs naive, median of {args.repeat}: {statistics.median(ratios):5.2f}x "
          f"(target {NAIVE_TARGET}x)")


def rate(count: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def fetch_all(account: Account, batch_size: int, parse: Callable[[bytes], Any] | None) -> int:
    """What any IMAP reader must do at least: batched FETCH, optionally parse each mail."""
    with IMAPClient(account.host, account.port, ssl=False, timeout=30) as client:
        client.login(account.username, account.password)
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        count = 0
        for start in range(0, len(uids), batch_size):
            data = client.fetch(uids[start:start + batch_size], ["BODY.PEEK[]"])
            for item in data.values():
                if parse is not None:
                    parse(bytes(item[b"BODY[]"]))
                count += 1
    return count


def drain_rate(directory: Path, url: str, account: Account, args: argparse.Namespace,
               dovecot: int | None = None, *,
               drain: Callable[[Ingestd], DrainReport] | None = None) -> Run:
    """Messages per second through the whole pipeline into a fresh database, and its CPU."""
    app = Ingestd(bench_config(directory, url, account, args.model, args.batch_size,
                               workers=args.workers))

    def work() -> int:
        report = (drain or Ingestd.drain)(app)
        if report.errors or report.processed.quarantined:
            print(f"  WARNING: {report.errors} errors, {report.processed.quarantined} quarantined")
        return report.processed.processed + report.processed.quarantined + report.duplicates

    return measured(app, dovecot, work)


def floor_run(directory: Path, url: str, account: Account, args: argparse.Namespace,
              dovecot: int | None) -> Run:
    """The floor (bench/_floor.py) into a fresh database with the product's schema."""
    app = Ingestd(bench_config(directory, url, account, args.model, args.batch_size))

    def work() -> int:
        floor = Floor(app.engine, app.services.composer, app.services.model.get())
        return floor.drain(account, args.batch_size)

    return measured(app, dovecot, work)


def measured(app: Ingestd, dovecot: int | None, work: Callable[[], int]) -> Run:
    """Time `work` (it returns the mails it handled) and count the CPU of every process.

    The model loads first, as `ingestd run` loads it before draining; the CPU is read while
    the workers and database sessions still run. The app is closed at the end.
    """
    meter = CpuMeter(dovecot, server_pid(app.engine))
    try:
        app.services.model.get()
        before, started = meter.read(), time.perf_counter()
        count = work()
        seconds = time.perf_counter() - started
        cpu = meter.since(before)
    finally:
        app.close()
    return Run(count / seconds, cpu)


def naive_drain(app: Ingestd) -> DrainReport:
    """The same pipeline one message at a time: one FETCH, one store commit, one process."""
    services, report = app.services, DrainReport()
    source = ImapSource(services.settings.mailbox[0])
    try:
        last_uid, _ = resync(services, source, "INBOX")
        client = source.connect()
        uidvalidity = int(client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
        for uid in sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid):
            raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
            delivery = Delivery(source.config.name, bytes(raw), "INBOX", uidvalidity, str(uid))
            report.add(commit_batch(services, source.config.name,
                                     FolderBatch("INBOX", uidvalidity, [delivery], uid)))
            process_pending(services, stats=report.processed)
    finally:
        source.close()
    return report


class database:  # noqa: N801  (used like a function: `with database(...) as urls`)
    """`count` fresh databases of one backend: the big drain's, then the comparison's."""

    def __init__(self, backend: str, work: Path, count: int) -> None:
        self.backend, self.work, self.count = backend, work, count
        self.pg: PgServer | None = None
        self.names: list[str] = []

    def __enter__(self) -> list[str]:
        if self.backend == "sqlite":
            return [f"sqlite:///{self.work / f'db{n}.sqlite3'}" for n in range(self.count)]
        self.pg = PgServer()
        self.names = [self.pg.create_database() for _ in range(self.count)]
        return [self.pg.url(name) for name in self.names]

    def __exit__(self, *_exc: object) -> None:
        if self.pg is not None:
            for name in self.names:
                self.pg.drop_database(name)
            self.pg.close()


if __name__ == "__main__":
    main()
