"""Helpers for the crash and fault tests: `ingestd run --once` as a process we can kill.

The child logs JSON lines to stdout (one per stored batch, processed message and sent mail);
a reader thread keeps them, so a test can kill the child right after a chosen event and
knows which phase the kill hit.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from ingestd.mailout.sender import CLAIM
from storage import Case, Outbox, Quarantine, RawMessage, utcnow
from tests.support import REPO, Ingestd


def zygote_server() -> Iterator[Zygote]:
    """Body of a `zygote` fixture: a fork server for `ingestd` runs (import once, fork per run)."""
    server = Zygote()
    try:
        yield server
    finally:
        server.close()

PHASE_OF_EVENT = {"batch_stored": "process", "message": "process", "mail_sent": "send",
                  "mail_not_sent": "send"}


class Zygote:
    """The fork server of tests/zygote.py: starts `ingestd` runs in milliseconds."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.zygote"], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._counter = itertools.count()
        self._lock = threading.Lock()
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        assert "ready" in ready, f"the zygote did not start: {ready!r}"

    def spawn(self, directory: Path, argv: list[str],
              env: dict[str, str] | None = None) -> tuple[int, Path, Path]:
        with self._lock:
            n = next(self._counter)
            out, err = directory / f"run{n:03d}.out", directory / f"run{n:03d}.err"
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps({"argv": argv, "stdout": str(out), "stderr": str(err),
                                              "env": env or {}}) + "\n")
            self.proc.stdin.flush()
            pid = int(json.loads(self.proc.stdout.readline())["pid"])
        return pid, out, err

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


class Child:
    """One `ingestd run --once` (forked by the zygote) with its log events collected."""

    def __init__(self, zygote: Zygote, config: Path, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        runs = config.parent / "runs"
        runs.mkdir(exist_ok=True)
        self.pid, self._out, self._err = zygote.spawn(
            runs, ["--config", str(config), "run", "--once", *extra], env)
        self.events: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self._offset = 0

    @property
    def stderr(self) -> bytes:
        return self._err.read_bytes() if self._err.exists() else b""

    def _poll(self) -> None:
        """Read the log lines the child wrote since last time."""
        if not self._out.exists():
            return
        with self._out.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "text", "text": line.decode(errors="replace")}
            self.events.append(event)
            self.counts[str(event.get("event", "?"))] += 1

    def returncode(self) -> int | None:
        """The exit code once the child ended on its own; -9 when killed; None while running."""
        rc = Path(f"{self._out}.rc")
        if rc.exists() and rc.read_text():
            return int(rc.read_text())
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return -9
        return None

    def wait_event(self, kind: str, count: int, timeout: float) -> bool:
        """True once `count` events of `kind` were logged; False if the child ended first."""
        deadline = time.monotonic() + timeout
        while True:
            self._poll()
            if self.counts[kind] >= count:
                return True
            if self.returncode() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.003)

    def last_phase(self) -> str:
        self._poll()
        last = self.events[-1]["event"] if self.events else None
        return PHASE_OF_EVENT.get(str(last), "start/fetch")

    def kill(self) -> bool:
        """SIGKILL now; True when the child was still running (a real crash)."""
        alive = self.returncode() is None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.wait()
        return alive

    def wait(self, timeout: float = 180) -> int:
        deadline = time.monotonic() + timeout
        while (code := self.returncode()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"ingestd run did not end within {timeout} s")
            time.sleep(0.01)
        # a killed child may still be a zombie for a moment: wait until it is reaped
        while code == -9 and _exists(self.pid):
            time.sleep(0.005)
        self._poll()
        return code

    def text(self) -> str:
        self._poll()
        out = "\n".join(json.dumps(e) for e in self.events)
        return out + "\n" + self.stderr.decode(errors="replace")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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


def deliver_after_claims_expire(config: Path) -> int:
    """Run the sender as if the claims of killed runs had run out (CLAIM, five minutes).

    A killed sender leaves the rows it claimed for its lease; a restart delivers them only
    after that. Returns how many mails were delivered this way.
    """
    app = Ingestd(config, clock=lambda: utcnow() + CLAIM + timedelta(seconds=5))
    try:
        return int(app.send().sent)
    finally:
        app.close()


def run_until_clean(zygote: Zygote, config: Path, attempts: int = 5,
                    pause: float = 1.2) -> Child:
    """Run `run --once` until one run stores, processes and sends nothing new."""
    last: Child | None = None
    for _ in range(attempts):
        time.sleep(pause)  # a killed run's folder lease runs out (lease_seconds in the config)
        last = Child(zygote, config)
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
