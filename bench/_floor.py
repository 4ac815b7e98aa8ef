"""The floor: what the libraries alone need per mail, and the CPU every process spends on it.

Whatever else it does, a drain of a complaint mailbox must, for every mail, fetch it, keep
its bytes, parse it, score it with the triage model, compose the acknowledgment and the
team's notification, and write the case with its message, participant, status event and
outbox rows. The floor does that and nothing more: no threading look-up, no loop filter,
no counts, no service-level clock, no log line; ids are counted in Python and rows written
with SQLAlchemy Core executemany, one commit for the raw batch and one for its cases.

Its CPU per mail, summed over every process that works for it (this one, Dovecot, the
PostgreSQL server), bounds any drain built on these libraries: on `cores` cores, perfectly
parallel, at most cores / (CPU per mail) mails a second.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psutil
from _setup import Account  # first: it puts the repository on the path
from imapclient import IMAPClient
from sqlalchemy import Engine, bindparam, insert, text, update

from ingestd.casework import case_view
from ingestd.mailout.compose import Composer
from ingestd.message import ParsedMessage, parse_bytes
from storage import Case, CaseMessage, Event, MessageKey, Outbox, Participant, RawMessage
from triage import Classifier

Rows = dict[Any, list[dict[str, Any]]]
_MARK_DONE = update(RawMessage).where(RawMessage.id == bindparam("raw_id"))


@dataclass(frozen=True)
class CpuUse:
    """Seconds of CPU per process group over one measured run."""

    parts: dict[str, float]

    def per_mail_ms(self, mails: int) -> float:
        return sum(self.parts.values()) * 1000 / mails

    def describe(self, mails: int) -> str:
        parts = ", ".join(f"{name} {seconds * 1000 / mails:.2f}"
                          for name, seconds in self.parts.items())
        return f"CPU {self.per_mail_ms(mails):5.2f} ms/mail ({parts})"


class CpuMeter:
    """CPU of this process with its workers, of Dovecot, and of a database server.

    Each is a process tree: its own time, its live descendants', and that of the children
    it has reaped (an IMAP session that logged out). Read it while the work's processes
    still run: one that has exited but is not yet reaped counts nowhere.
    """

    def __init__(self, dovecot: int | None, database: int | None = None) -> None:
        self.roots = {"ingestd": os.getpid(), "dovecot": dovecot, "postgresql": database}

    def read(self) -> dict[str, float]:
        skip = {pid for name, pid in self.roots.items() if name != "ingestd" and pid}
        return {name: _tree_cpu(pid, skip) for name, pid in self.roots.items() if pid}

    def since(self, before: dict[str, float]) -> CpuUse:
        after = self.read()
        return CpuUse({name: after[name] - before[name] for name in after})


def _tree_cpu(pid: int, skip: set[int]) -> float:
    total, todo = 0.0, [psutil.Process(pid)]
    while todo:
        process = todo.pop()
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            todo += [child for child in process.children() if child.pid not in skip]
        except psutil.NoSuchProcess:
            continue  # gone between the listing and the reading: its parent counts it
    return total


def server_pid(engine: Engine) -> int | None:
    """The PostgreSQL postmaster behind `engine` (same machine), None for SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        backend = int(connection.scalar(text("SELECT pg_backend_pid()")))
    return psutil.Process(backend).ppid()


class Floor:
    """Drains a mailbox doing only what the libraries must do per mail (see the module)."""

    def __init__(self, engine: Engine, composer: Composer, model: Classifier) -> None:
        self.engine, self.composer, self.model = engine, composer, model
        self.raw_ids, self.case_ids = itertools.count(1), itertools.count(1)

    def drain(self, account: Account, batch_size: int) -> int:
        count = 0
        with IMAPClient(account.host, account.port, ssl=False, timeout=30) as client:
            client.login(account.username, account.password)
            client.select_folder("INBOX", readonly=True)
            uids = sorted(client.search(["ALL"]))
            for start in range(0, len(uids), batch_size):
                data = client.fetch(uids[start:start + batch_size], ["BODY.PEEK[]"])
                raws = self._store([(uid, bytes(item[b"BODY[]"])) for uid, item in data.items()])
                self._process(raws)
                count += len(raws)
        return count

    def _store(self, mails: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """The raw bytes and their deduplication keys, committed before anything else."""
        now = datetime.now(UTC)
        rows = [{"id": next(self.raw_ids), "source": "bench", "folder": "INBOX",
                 "uidvalidity": 1, "uid": str(uid), "dedup_key": hashlib.sha256(raw).hexdigest(),
                 "size": len(raw), "raw": raw, "received_at": now, "state": "pending"}
                for uid, raw in mails]
        with self.engine.begin() as connection:
            connection.execute(insert(RawMessage), rows)
            connection.execute(insert(MessageKey), [
                {"dedup_key": row["dedup_key"], "raw_message_id": row["id"]} for row in rows])
        return [(row["id"], row["raw"]) for row in rows]

    def _process(self, raws: Iterable[tuple[int, bytes]]) -> None:
        rows: Rows = {table: [] for table in (Case, CaseMessage, Participant, Event, Outbox)}
        done = []
        for raw_id, raw in raws:
            self._case(rows, raw_id, parse_bytes(raw))
            done.append({"raw_id": raw_id, "state": "done", "outcome": "new_case"})
        with self.engine.begin() as connection:
            for table, values in rows.items():
                connection.execute(insert(table), values)
            connection.execute(_MARK_DONE, done)

    def _case(self, rows: Rows, raw_id: int, parsed: ParsedMessage) -> None:
        result = self.model.decide(self.model.score(parsed.subject, parsed.reply_text))
        case_id, now = next(self.case_ids), datetime.now(UTC)
        reference = f"CMP-{now.year}-{case_id:06d}"
        address = parsed.sender_address or "unknown@example.test"
        case = {"id": case_id, "reference": reference, "status": "new",
                "customer_name": parsed.sender_name, "customer_address": address,
                "subject": parsed.subject, "description": parsed.reply_text,
                "received_at": now, "order_numbers": list(parsed.order_numbers),
                "phone_numbers": list(parsed.phone_numbers), "flags": [],
                "category": result.category, "severity": result.severity,
                "escalate": result.escalate, "confidence": result.confidence,
                "needs_review": result.needs_review, "triage": result.as_json(),
                "escalation_level": 0, "serious": result.escalate,
                "acknowledge_due": now + timedelta(hours=24),
                "investigate_due": now + timedelta(days=1),
                "resolve_due": now + timedelta(days=7)}
        rows[Case].append(case)
        rows[CaseMessage].append({"case_id": case_id, "raw_message_id": raw_id,
                                  "direction": "in", "message_id": parsed.message_id,
                                  "sender": address, "subject": parsed.subject,
                                  "text": parsed.reply_text, "sent_at": now, "attachments": []})
        rows[Participant].append({"case_id": case_id, "address": address,
                                  "name": parsed.sender_name, "role": "customer"})
        rows[Event].append({"case_id": case_id, "at": now, "actor": "ingestd", "kind": "status",
                            "new": "new", "note": "received from bench"})
        view = case_view(SimpleNamespace(**case, assignee=None))  # the view of a Case, duck-typed
        drafts = [self.composer.compose("acknowledgment", address, reference, view,
                                        in_reply_to=parsed.message_id,
                                        references=parsed.references),
                  self.composer.compose("team_notification", "agents@example.test", reference,
                                        view, headers={"X-Ingestd-Case": reference})]
        rows[Outbox] += [{"case_id": case_id, "kind": draft.kind, "recipient": draft.recipient,
                          "message_id": draft.message_id, "key": f"{draft.kind}:{case_id}",
                          "raw": draft.raw, "state": "pending", "attempts": 0,
                          "next_attempt_at": now, "created_at": now} for draft in drafts]
