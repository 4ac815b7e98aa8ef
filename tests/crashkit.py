"""Helpers for the crash and fault tests: `ingestd run --once` as a process we can kill.

The child logs JSON lines to stdout (one per stored batch, processed message and sent mail);
a reader thread keeps them, so a test can kill the child right after a chosen event and
knows which phase the kill hit.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from storage import Case, Outbox, Quarantine, RawMessage
from tests.support import REPO

PHASE_OF_EVENT = {"batch_stored": "process", "message": "process", "mail_sent": "send",
                  "mail_not_sent": "send"}


class Child:
    """One `ingestd run --once` subprocess with its log events collected as they come."""

    def __init__(self, config: Path, *extra: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingestd", "--config", str(config), "run", "--once", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)
        self.events: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.stderr = b""
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "text", "text": line.decode(errors="replace")}
            with self._cond:
                self.events.append(event)
                self.counts[event.get("event", "?")] += 1
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def wait_event(self, kind: str, count: int, timeout: float) -> bool:
        """True once `count` events of `kind` were logged; False if the child ended first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.counts[kind] < count:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    return False
                self._cond.wait(0.01)
        return True

    def last_phase(self) -> str:
        with self._cond:
            last = self.events[-1]["event"] if self.events else None
        return PHASE_OF_EVENT.get(str(last), "start/fetch")

    def kill(self) -> bool:
        """SIGKILL now; True when the child was still running (a real crash)."""
        alive = self.proc.poll() is None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.wait()
        return alive

    def wait(self, timeout: float = 180) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def text(self) -> str:
        with self._cond:
            out = "\n".join(json.dumps(e) for e in self.events)
        return out + "\n" + self.stderr.decode(errors="replace")


@dataclass
class Tally:
    """What the database and the SMTP sink hold at the end of a run of faults."""

    raw_by_state: dict[str, int]
    cases: int
    distinct_customers: int
    quarantined: int
    acks_by_recipient: Counter[str]
    notes_by_case: Counter[str]
    ack_rows: dict[str, tuple[str, str | None]]  # recipient -> (state, response)
    lost_acks: list[str] = field(default_factory=list)

    @property
    def doubled_acks(self) -> dict[str, int]:
        return {r: n for r, n in self.acks_by_recipient.items() if n > 1}

    @property
    def doubled_notes(self) -> dict[str, int]:
        return {r: n for r, n in self.notes_by_case.items() if n > 1}


def tally(db_url: str, sink: Any) -> Tally:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            states = dict(conn.execute(select(RawMessage.state, func.count())
                                       .group_by(RawMessage.state)).all())
            cases = conn.scalar(select(func.count(Case.id))) or 0
            customers = conn.scalar(select(func.count(func.distinct(Case.customer_address)))) or 0
            quarantined = conn.scalar(select(func.count(Quarantine.id))) or 0
            ack_rows = {row.recipient: (row.state, row.response) for row in conn.execute(
                select(Outbox.recipient, Outbox.state, Outbox.response)
                .where(Outbox.kind.like("acknowledgment%")))}
    finally:
        engine.dispose()
    acks: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for received in sink.messages:
        if received.message["Auto-Submitted"] == "auto-replied":
            acks.update(received.rcpt_tos)
        elif received.message["X-Ingestd-Case"]:
            notes[str(received.message["X-Ingestd-Case"])] += 1
    result = Tally(states, int(cases), int(customers), int(quarantined), acks, notes, ack_rows)
    result.lost_acks = sorted(r for r, (state, _) in ack_rows.items()
                              if state == "sent" and acks[r] == 0)
    return result


def run_until_clean(config: Path, attempts: int = 5, pause: float = 1.2) -> Child:
    """Run `run --once` until one run stores, processes and sends nothing new."""
    last: Child | None = None
    for _ in range(attempts):
        time.sleep(pause)  # a killed run's folder lease runs out (lease_seconds in the config)
        last = Child(config)
        code = last.wait()
        summary = summary_of(last)
        if code == 0 and summary is not None and not any(summary.values()):
            return last
    assert last is not None
    raise AssertionError(f"no clean run after {attempts} attempts:\n{last.text()[-3000:]}")


SUMMARY = re.compile(r"stored (?P<stored>\d+) new messages \((?P<duplicates>\d+) duplicates\), "
                     r"processed (?P<processed>\d+), quarantined (?P<quarantined>\d+); "
                     r"sent (?P<sent>\d+) mails \((?P<retry>\d+) to retry")


def summary_of(child: Child) -> dict[str, int] | None:
    """The counts of the one summary line `run --once` prints on stderr."""
    match = SUMMARY.search(child.stderr.decode(errors="replace"))
    return {k: int(v) for k, v in match.groupdict().items()} if match else None
