"""A customer's data on request (export, erase) and the retention purge of old closed cases.

Erasure keeps what statistics need (category, severity, timestamps, escalation levels,
events' kinds) and removes everything that names or describes the person: raw mail,
names, addresses, message text, participants. Raw mail that no case holds (quarantined,
an ignored auto-reply, a bounce of our mail to them) is the person's data as well: export
and erasure take every such mail their address appears in, read as bytes and decoded.
Mentions of the person elsewhere (another customer's case they were copied on or named in,
an error, a digest, a mail written to the outbox folder) are redacted, in every column of
every table, so a table added later is covered too. Export gives only what is theirs: of a
case someone else opened, the messages they wrote. The purge deletes closed cases older
than `[retention] closed_case_days`, raw mail included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    LargeBinary,
    String,
    Table,
    Text,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from ingestd import casework
from ingestd.casework import detail
from ingestd.files import write_private
from ingestd.progress import Tick, no_tick
from ingestd.redact import ERASED, Person, mail_text
from storage import (
    Base,
    Case,
    CaseMessage,
    Outbox,
    Participant,
    Quarantine,
    RawMessage,
    Suppression,
    transaction,
)
from storage.search import merge_search_index

if TYPE_CHECKING:
    from ingestd.services import Services

PURGE_BATCH = 200
_OUTBOX_FILE = re.compile(r"^(\d+)\.eml$")


def customer_cases(session: Session, address: str) -> list[Case]:
    """Cases the address opened or took part in."""
    address = address.strip().lower()
    participated = select(Participant.case_id).where(Participant.address == address)
    return list(session.scalars(select(Case).where(or_(
        Case.customer_address == address, Case.id.in_(participated))).order_by(Case.id)))


def person(session: Session, address: str) -> Person:
    """The address and the names it gave, as its cases and participations record them."""
    address = address.strip().lower()
    names = session.scalars(select(Case.customer_name).where(Case.customer_address == address))
    names_cc = session.scalars(select(Participant.name).where(Participant.address == address))
    return Person.of(address, [*names, *names_cc])


def export(session: Session, address: str, tick: Tick = no_tick) -> dict[str, Any]:
    """Everything kept about `address`: their cases with messages and events, what they
    wrote into cases others opened, the raw mail that is theirs, and the mail sent to them.

    `tick(1)` follows each case read (a long-standing customer has many)."""
    who = person(session, address)
    cases = customer_cases(session, who.address)
    own = [c for c in cases if c.customer_address == who.address]
    joined = [c for c in cases if c.customer_address != who.address]
    raw_ids = [m.raw_message_id for c in own for m in c.messages if m.raw_message_id]
    raw_ids += [m.raw_message_id for c in joined for m in _written_by(c, who.address)
                if m.raw_message_id]
    raw_ids += _uncased_raw_ids(session, who)
    raws = session.scalars(select(RawMessage).where(RawMessage.id.in_(raw_ids))
                           .order_by(RawMessage.id)).all()
    outbox = session.scalars(select(Outbox).where(Outbox.recipient == who.address)).all()
    return {
        "address": who.address,
        "cases": [_ticked(detail(session, case), tick) for case in own],
        "cases_taken_part_in": [_taking_part(case, who.address) for case in joined],
        "raw_messages": [{"id": r.id, "received_at": r.received_at.isoformat(),
                          "source": r.source, "text": _text(r.raw),
                          "readable_text": mail_text(r.raw) if r.raw else None} for r in raws],
        "mail_sent": [{"kind": o.kind, "created_at": o.created_at.isoformat(),
                       "state": o.state, "text": _text(o.raw)} for o in outbox],
    }


def _written_by(case: Case, address: str) -> list[CaseMessage]:
    return [m for m in case.messages
            if m.direction == "in" and (m.sender or "").lower() == address]


def _taking_part(case: Case, address: str) -> dict[str, Any]:
    """Of a case someone else opened: that they took part, and what they wrote into it."""
    roles = [p.role for p in case.participants if p.address == address]
    return {"reference": case.reference, "role": roles[0] if roles else None,
            "messages": [{"sent_at": m.sent_at.isoformat(), "subject": m.subject,
                          "text": m.text} for m in _written_by(case, address)]}


@dataclass
class ErasureReport:
    cases: int = 0
    raw_messages: int = 0
    mails: int = 0
    mentions: int = 0  # values redacted elsewhere: other cases, errors, digests
    files: int = 0  # mails in the outbox folder deleted or redacted


def erase(session: Session, address: str, *, actor: str, at: datetime,
          outbox_dir: Path | None = None) -> ErasureReport:
    """Remove personal data of `address`; keep anonymised statistics of its cases.

    `outbox_dir` is the folder of `[smtp] mode = "file"`: its mails naming the person are
    deleted (theirs) or rewritten as their redacted outbox row.
    """
    who = person(session, address)  # the names, read before anything is erased
    report = ErasureReport()
    for case in customer_cases(session, who.address):
        if case.customer_address == who.address:
            _erase_case(session, case, who.address, report)
            casework.record(session, case, "privacy_erased", actor=actor, at=at)
            report.cases += 1
        else:
            _erase_messages(session, _written_by(case, who.address), report)
        session.execute(delete(Participant).where(
            Participant.case_id == case.id, Participant.address == who.address))
    report.mails += _erase_outbox(session, Outbox.recipient == who.address)
    session.execute(update(Suppression).where(Suppression.sender == who.address)
                    .values(sender=None))
    report.raw_messages += _erase_uncased_raw(session, who, at)
    report.mentions = redact_everywhere(session, who)
    if outbox_dir is not None:
        report.files = _erase_files(session, outbox_dir, who)
    return report


def _uncased_raw_ids(session: Session, who: Person) -> list[int]:
    """Raw mail that no case holds and that names the person anywhere, encoded or not.

    Such mail is rare (quarantined, ignored auto-replies, bounces), so it is read in pages
    and searched as bytes and as decoded text.
    """
    held = select(CaseMessage.raw_message_id).where(CaseMessage.raw_message_id.is_not(None))
    query = (select(RawMessage.id, RawMessage.raw)
             .where(RawMessage.raw.is_not(None), RawMessage.id.not_in(held))
             .execution_options(yield_per=100))
    return [raw_id for raw_id, raw in session.execute(query) if who.in_mail(raw)]


def _erase_uncased_raw(session: Session, who: Person, at: datetime) -> int:
    """Erase the raw mail no case holds; a quarantined one is settled (it cannot run again)."""
    ids = _uncased_raw_ids(session, who)
    if not ids:
        return 0
    session.execute(update(Quarantine).where(
        Quarantine.raw_message_id.in_(ids), Quarantine.resolved_at.is_(None))
        .values(resolved_at=at, error="erased on request; " + Quarantine.error))
    return _rowcount(session.execute(update(RawMessage).where(RawMessage.id.in_(ids)).values(
        raw=None, message_id=None, state="done", outcome="privacy_erased")))


def redact_everywhere(session: Session, who: Person) -> int:
    """Redact every mention left in any column of any table; how many values changed.

    Text and JSON are found by the database (lower-cased LIKE), mail bytes by reading them
    (the mention may sit in an encoded body). Tables come from the schema's metadata.
    """
    session.flush()
    changed = 0
    for table in Base.metadata.sorted_tables:
        [key] = table.primary_key.columns
        for column in table.columns:
            changed += _redact_column(session, table, key, column, who)
    session.expire_all()
    return changed


def _redact_column(session: Session, table: Table, key: Column[Any], column: Column[Any],
                   who: Person) -> int:
    if isinstance(column.type, LargeBinary):
        rows = _mail_mentions(session, key, column, who)
        fix: Any = who.redact_mail
    elif isinstance(column.type, (String, JSON)):
        text = cast(column, Text) if isinstance(column.type, JSON) else column
        rows = list(session.execute(select(key, column).where(or_(*(
            func.lower(text).contains(needle, autoescape=True) for needle in who.needles)))))
        fix = who.redact_value if isinstance(column.type, JSON) else who.redact_text
    else:
        return 0
    for row_key, value in rows:
        session.execute(update(table).where(key == row_key).values({column.name: fix(value)}))
    return len(rows)


def _mail_mentions(session: Session, key: Column[Any], column: Column[Any],
                   who: Person) -> list[tuple[Any, Any]]:
    query = select(key, column).where(column.is_not(None)).execution_options(yield_per=100)
    found = [row_key for row_key, raw in session.execute(query) if who.in_mail(raw)]
    return [(row_key, session.scalar(select(column).where(key == row_key)))
            for row_key in found]


def _erase_files(session: Session, folder: Path, who: Person) -> int:
    """Mails in the outbox folder that name the person: theirs deleted, others redacted."""
    if not folder.is_dir():
        return 0
    touched = 0
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not who.in_mail(path.read_bytes()):
            continue
        match = _OUTBOX_FILE.match(path.name)
        row = session.get(Outbox, int(match.group(1))) if match else None
        if row is not None and row.raw and not who.in_mail(row.raw):
            write_private(path, row.raw)  # (0600, as the sender wrote it)
        else:
            path.unlink()
        touched += 1
    return touched


def release_freed_space(engine: Engine) -> None:
    """SQLite: move the erased pages out of the write-ahead log into the (zeroed) file.

    With `secure_delete` (storage.db) freed space is overwritten as it is freed; the log
    still holds the pages as they were until this checkpoint empties it. The full-text
    index first merges its segments, which drops the words of the texts erased.
    """
    if engine.dialect.name != "sqlite":
        return
    merge_search_index(engine)
    connection = engine.raw_connection()
    try:
        connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def _erase_case(session: Session, case: Case, address: str, report: ErasureReport) -> None:
    case.customer_name = case.customer_address = None
    case.subject, case.description = ERASED, ""
    case.order_numbers, case.phone_numbers = [], []
    if case.recovery:
        case.recovery = {**case.recovery, "actions": [
            {**a, "note": None} for a in case.recovery.get("actions", [])]}
    _erase_messages(session, case.messages, report)
    session.execute(delete(Participant).where(Participant.case_id == case.id))
    for event in case.events:
        if event.actor == address:
            event.actor, event.note = "customer", None
        if event.note and address in event.note.lower():
            event.note = event.note.lower().replace(address, ERASED)
        if event.new == address:
            event.new = ERASED
    report.mails += _erase_outbox(session, Outbox.case_id == case.id)


def _erase_messages(session: Session, messages: list[CaseMessage],
                    report: ErasureReport) -> None:
    """The messages' text, sender and raw mail go; that they were sent, and when, stays."""
    raw_ids = [m.raw_message_id for m in messages if m.raw_message_id]
    for message in messages:
        message.sender, message.subject, message.text, message.attachments = None, "", "", []
        if message.direction == "in":
            message.message_id = None
    if raw_ids:
        report.raw_messages += _rowcount(session.execute(update(RawMessage).where(
            RawMessage.id.in_(raw_ids)).values(raw=None, message_id=None)))


def _erase_outbox(session: Session, where: Any) -> int:
    session.execute(update(Outbox).where(where, Outbox.state.in_(("pending", "held")))
                    .values(state="cancelled"))
    result = session.execute(update(Outbox).where(where, Outbox.raw != b"").values(
        raw=b"", recipient=ERASED, sender_key=None, last_error=None, response=None))
    return _rowcount(result)


@dataclass
class PurgeReport:
    cases: int = 0
    raw_messages: int = 0


def purge_expired(services: Services, now: datetime, tick: Tick = no_tick) -> PurgeReport:
    """Delete closed cases older than the retention period, with their raw mail and outbox.

    `tick(n)` follows each batch of n cases deleted."""
    cutoff = now - timedelta(days=services.settings.retention.closed_case_days)
    report = PurgeReport()
    while True:
        with transaction(services.factory) as session:
            ids = list(session.scalars(select(Case.id).where(
                Case.status == "closed", Case.closed_at < cutoff).limit(PURGE_BATCH)))
            if ids:
                _purge(session, ids, report)
        tick(len(ids))
        if len(ids) < PURGE_BATCH:
            return report


def expired_count(services: Services, now: datetime) -> int:
    """How many closed cases the purge at `now` would delete (the progress bar's total)."""
    cutoff = now - timedelta(days=services.settings.retention.closed_case_days)
    with services.factory() as session:
        return session.scalar(select(func.count(Case.id)).where(
            Case.status == "closed", Case.closed_at < cutoff)) or 0


def _purge(session: Session, ids: list[int], report: PurgeReport) -> None:
    raw_ids = list(session.scalars(select(CaseMessage.raw_message_id).where(
        CaseMessage.case_id.in_(ids), CaseMessage.raw_message_id.is_not(None))))
    session.execute(update(Case).where(Case.linked_case_id.in_(ids)).values(linked_case_id=None))
    session.execute(delete(Outbox).where(Outbox.case_id.in_(ids)))
    session.execute(delete(CaseMessage).where(CaseMessage.case_id.in_(ids)))
    for case in session.scalars(select(Case).where(Case.id.in_(ids))):
        session.delete(case)
    session.flush()
    if raw_ids:
        session.execute(update(RawMessage).where(RawMessage.duplicate_of.in_(raw_ids))
                        .values(duplicate_of=None))
        report.raw_messages += _rowcount(session.execute(
            delete(RawMessage).where(RawMessage.id.in_(raw_ids))))
    report.cases += len(ids)


def _ticked(item: dict[str, Any], tick: Tick) -> dict[str, Any]:
    tick(1)
    return item


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")
