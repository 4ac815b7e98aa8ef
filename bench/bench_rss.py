"""Peak memory of `ingestd run --once` draining a large IMAP backlog, and whether it grows.

Starts its own Dovecot (the test fixtures' class), APPENDs --mails varied mails (see
bench/_setup.py) and runs `ingestd run --once` as a subprocess on a fresh SQLite file (or
--db URL), sampling VmRSS from /proc/PID/status every 100 ms. Progress is read from the
daemon's canonical log line (one per message). Prints the peak, the RSS at 25/50/75/100 % of
the backlog, and the baseline: the same process at start (imports and model loaded, first
batch fetched) and at 5,000 mails. Flat means the 100 % figure is close to the 25 % one.

    .venv/bin/python bench/bench_rss.py [--mails 20000] [--db postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _setup import DEFAULT_MODEL, ROOT, Corpus, bench_config, fill

from tests.servers import _start_dovecot

TARGET_MB = 300
MESSAGE_LINE = b'"event": "message"'


@dataclass
class Samples:
    """(messages done, RSS in MB) every 100 ms, and the kernel's high-water mark."""

    points: list[tuple[int, float]] = field(default_factory=list)
    peak_mb: float = 0.0
    worker_peak_mb: float = 0.0  # the parse-and-score worker processes, each
    worker_own_peak_mb: float = 0.0  # of that, the pages not shared with the main process

    def at(self, done: int) -> float | None:
        """RSS of the first sample taken with at least `done` messages processed."""
        return next((rss for count, rss in self.points if count >= done), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=20_000)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="triage model file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ingestd-bench-rss-"))
    dovecot = _start_dovecot(tls=False)
    try:
        account = dovecot.new_user("rss")
        started = time.perf_counter()
        fill(dovecot, account, Corpus(), args.mails)
        print(f"{args.mails} mails appended in {time.perf_counter() - started:.0f} s; "
              f"work directory {work}")
        config = bench_config(work, args.db or f"sqlite:///{work / 'rss.sqlite3'}", account,
                              args.model)
        ingestd(config, "db", "upgrade")
        report(measure(config, work / "run.log"), args.mails)
    finally:
        dovecot.close()


def ingestd(config: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "ingestd", "--config", str(config), *args],
                   check=True, cwd=ROOT, capture_output=True)


def measure(config: Path, log: Path) -> Samples:
    """Run `ingestd run --once` and sample its memory until it exits."""
    samples, done, partial = Samples(), 0, b""
    command = [sys.executable, "-m", "ingestd", "--config", str(config), "run", "--once"]
    with log.open("wb") as out, log.open("rb") as reader:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        while process.poll() is None:
            status = _status(process.pid)
            lines, _, partial = (partial + reader.read()).rpartition(b"\n")
            done += lines.count(MESSAGE_LINE)
            if status:
                samples.points.append((done, status.get("VmRSS", 0.0)))
                samples.peak_mb = max(samples.peak_mb, status.get("VmHWM", 0.0))
            for child in _children(process.pid):
                samples.worker_peak_mb = max(samples.worker_peak_mb,
                                             _status(child).get("VmHWM", 0.0))
                samples.worker_own_peak_mb = max(samples.worker_own_peak_mb, _own_mb(child))
            time.sleep(0.1)
    if process.returncode != 0:
        print(f"WARNING: ingestd exited with {process.returncode}; see {log}")
    return samples


def _status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process in MB; empty once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines()
    except OSError:
        return {}
    fields = (line.split() for line in lines if line.startswith(("VmRSS:", "VmHWM:")))
    return {parts[0].rstrip(":"): int(parts[1]) / 1024 for parts in fields}


def _own_mb(pid: int) -> float:
    """Private memory of a process in MB: what it does not share (a fork shares the model)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines()
    except OSError:
        return 0.0
    return sum(int(line.split()[1]) for line in lines
               if line.startswith(("Private_Clean:", "Private_Dirty:"))) / 1024


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (ingestd's worker processes)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def report(samples: Samples, mails: int) -> None:
    processed = samples.points[-1][0] if samples.points else 0
    start = samples.at(1)
    print(f"processed {processed} of {mails} mails; {len(samples.points)} samples")
    print(f"baseline: start (imports, model, first batch) {_mb(start)}, "
          f"at 5,000 mails {_mb(samples.at(5_000))}")
    for share in (25, 50, 75, 100):
        print(f"  at {share:3d} % ({mails * share // 100:6d} mails): "
              f"{_mb(samples.at(mails * share // 100))}")
    quarter, full = samples.at(mails // 4), samples.at(mails)
    growth = f"{full - quarter:+.0f} MB from 25 % to 100 %" if quarter and full else "n/a"
    verdict = "met" if samples.peak_mb <= TARGET_MB else "MISSED"
    print(f"peak RSS (VmHWM) {samples.peak_mb:.0f} MB, target {TARGET_MB} MB: {verdict}; "
          f"growth {growth}")
    print(f"worker processes (parse and score ahead): peak RSS {samples.worker_peak_mb:.0f} MB "
          f"each, {samples.worker_own_peak_mb:.0f} MB of it not shared with the main process; "
          f"with the main process {samples.peak_mb + samples.worker_own_peak_mb:.0f} MB")


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


if __name__ == "__main__":
    main()
