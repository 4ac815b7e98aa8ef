"""A backlog parsed and scored ahead by worker processes gives exactly the inline result."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select
from structlog.testing import capture_logs

from ingestd.intake._drain import _commit
from ingestd.pipeline import process_pending
from ingestd.pipeline.prepare import CHUNK, Lookahead
from ingestd.sources.delivery import Delivery
from storage import Case, CaseMessage, Outbox, Quarantine
from tests.support import REPO, ConfigSpec, Ingestd, complaint, mail, run_cli, write_config

BACKLOG = 160


def _backlog() -> list[bytes]:
    """Complaints, replies onto earlier ones, and two mails that cannot be parsed."""
    mails = []
    for n in range(BACKLOG):
        if n % 8 == 7:
            earlier = n - 3
            mails.append(mail(f"Customer {earlier} <customer{earlier}@example.net>",
                              "Re: still waiting", "Any news? Nothing has happened.",
                              in_reply_to=f"<c{earlier}@customer.example>"))
        else:
            mails.append(complaint(n, message_id=f"<c{n}@customer.example>"))
    mails[40] = b"this is not a mail at all\n\nno header here\n"
    mails[90] = b"\x00\x01 binary rubbish"
    return mails


def _app(directory: Path, workers: int) -> Ingestd:
    directory.mkdir()
    spec = ConfigSpec(f"sqlite:///{directory / 'ingestd.sqlite3'}",
                      extra=f"[daemon]\nworkers = {workers}\n")
    return Ingestd(write_config(directory, spec))


def _result(app: Ingestd) -> tuple[dict[str, tuple[object, ...]], list[str], int]:
    """Per inbound Message-ID its case and triage; the quarantine errors; outbox size."""
    with app.services.factory() as session:
        rows = session.execute(select(
            CaseMessage.message_id, Case.reference, Case.category, Case.severity,
            Case.escalation_level, Case.needs_review).join(Case)
            .where(CaseMessage.direction == "in")).all()
        errors = sorted(session.scalars(select(Quarantine.error)))
        outbox = len(session.scalars(select(Outbox.id)).all())
    return {row[0]: tuple(row[1:]) for row in rows}, errors, outbox


def _run(app: Ingestd, mails: list[bytes]) -> None:
    _commit(app.services, [Delivery(source="test", raw=raw) for raw in mails])
    process_pending(app.services, batch_size=60)


def test_a_backlog_prepared_by_a_worker_gives_the_same_cases_as_inline(tmp_path):
    mails = _backlog()
    inline, ahead = _app(tmp_path / "inline", 0), _app(tmp_path / "ahead", 1)
    try:
        _run(inline, mails)
        _run(ahead, mails)
        assert ahead.services.preparer.submitted >= BACKLOG  # the worker really did the work
        assert inline.services.preparer.submitted == 0
        cases, errors, outbox = _result(ahead)
        assert (cases, errors, outbox) == _result(inline)
    finally:
        inline.close()
        ahead.close()
    assert len(cases) == BACKLOG - 2
    assert len({row[0] for row in cases.values()}) == BACKLOG - 2 - BACKLOG // 8  # replies join
    assert len(errors) == 2 and all("not an RFC 5322 message" in e for e in errors)


def test_a_worker_killed_mid_backlog_loses_nothing(tmp_path):
    app = _app(tmp_path / "killed", 1)
    try:
        app.services.preparer.start(app.services.model.path)
        for child in multiprocessing.active_children():
            os.kill(child.pid or 0, signal.SIGKILL)
        with capture_logs() as logs:
            _run(app, _backlog())
        cases, errors, _ = _result(app)
    finally:
        app.close()
    assert len(cases) == BACKLOG - 2 and len(errors) == 2
    told = [e for e in logs if e["event"] in {"prepare_failed", "prepare_unavailable"}]
    assert 1 <= len(told) <= 2, told  # the loss is told once, not once per message


def test_a_chunk_lost_with_its_worker_is_told_once_not_per_message(tmp_path):
    app = _app(tmp_path / "lost", 1)
    long_mails = [mail(f"c{n}@example.net", "Long", "word " * 400_000) for n in range(CHUNK)]
    try:
        preparer = app.services.preparer
        preparer.start(app.services.model.path)
        ahead = Lookahead(preparer, app.services.model.path)
        ahead.submit(enumerate(long_mails))  # one chunk, seconds of parsing
        time.sleep(0.3)
        for child in multiprocessing.active_children():
            os.kill(child.pid or 0, signal.SIGKILL)
        with capture_logs() as logs:
            taken = [ahead.take(n) for n in range(CHUNK)]
        ahead.forget()
    finally:
        app.close()
    assert taken == [None] * CHUNK  # the steps will parse them inline
    assert [e["event"] for e in logs] == ["prepare_failed"]


def test_idle_workers_are_stopped_and_the_next_backlog_starts_them(tmp_path):
    app = _app(tmp_path / "idle", 1)
    others = _workers()  # processes of other tests in this one, if any
    try:
        _run(app, _backlog())
        assert _workers() == others + 1
        preparer = app.services.preparer
        ahead = Lookahead(preparer, app.services.model.path)  # a run in progress holds them
        assert not preparer.close_if_idle(idle_after=0) and _workers() == others + 1
        ahead.forget()
        assert not preparer.close_if_idle(idle_after=60)  # not idle long enough yet
        assert preparer.close_if_idle(idle_after=0) and _workers() == others
        before = preparer.submitted
        _run(app, [complaint(1000 + n, message_id=f"<d{n}@customer.example>")
                   for n in range(BACKLOG)])
        assert preparer.submitted > before and _workers() == others + 1
        cases, errors, _ = _result(app)
    finally:
        app.close()
    assert len(cases) == 2 * BACKLOG - 2 and len(errors) == 2


def _workers() -> int:
    return len(multiprocessing.active_children())  # (also reaps the ones that exited)


def test_run_once_forks_its_workers_and_gives_the_same_cases(tmp_path):
    """A process that runs no other thread forks its workers, which start with its model."""
    mails = _backlog()
    inline, forked = _app(tmp_path / "inline", 0), _app(tmp_path / "forked", 1)
    try:
        _run(inline, mails)
        _commit(forked.services, [Delivery(source="test", raw=raw) for raw in mails])
        done = run_cli(tmp_path / "forked" / "config.toml", "run", "--once")
        assert done.returncode == 0, done.stderr
        cases, errors, outbox = _result(forked)
        assert (cases, errors, outbox) == _result(inline)
    finally:
        inline.close()
        forked.close()
    started = [json.loads(line) for line in done.stdout.splitlines() if "workers_started" in line]
    assert [(event["workers"], event["start"]) for event in started] == [(1, "fork")]
    assert len(cases) == BACKLOG - 2 and len(errors) == 2


def test_workers_of_a_killed_run_exit_with_it(tmp_path):
    """SIGKILL (or the OOM killer) on ingestd leaves no worker behind holding its memory."""
    app = _app(tmp_path / "killed-run", 1)
    try:
        _commit(app.services, [Delivery(source="test", raw=complaint(n)) for n in range(2000)])
    finally:
        app.close()
    run = subprocess.Popen([sys.executable, "-m", "ingestd", "--config",
                            str(tmp_path / "killed-run" / "config.toml"), "run", "--once"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if b'"workers_started"' in line:
                break
        deadline = time.monotonic() + 10
        while not (workers := _children(run.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)  # the log line comes as the pool starts its processes
        assert workers, "the run started no worker process"
    finally:
        run.kill()
        run.wait()
    deadline = time.monotonic() + 10
    while (left := [pid for pid in workers if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    """Running still: not gone, and not a zombie waiting for its new parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
