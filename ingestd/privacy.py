"""A customer's data on request (export, erase) and the retention purge of old closed cases.

Erasure keeps what statistics need (category, severity, timestamps, escalation levels,
events' kinds) and removes everything that names or describes the person: raw mail,
names, addresses, message text, participants. Raw mail that no case holds (quarantined,
an ignored auto-reply, a bounce of our mail to them) is the person's data as well: export
and erasure take every such mail their address appears in. The purge deletes closed cases
older than `[retention] closed_case_days`, raw mail included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from ingestd import casework
from ingestd.casework import detail
from ingestd.progress import Tick, no_tick
from storage import (
    Case,
    CaseMessage,
    Outbox,
    Participant,
    Quarantine,
    RawMessage,
    Suppression,
    transaction,
)

if TYPE_CHECKING:
    from ingestd.services import Services

ERASED = "[erased]"
PURGE_BATCH = 200


def customer_cases(session: Session, address: str) -> list[Case]:
    """Cases the address opened or took part in."""
    address = address.strip().lower()
    participated = select(Participant.case_id).where(Participant.address == address)
    return list(session.scalars(select(Case).where(or_(
        Case.customer_address == address, Case.id.in_(participated))).order_by(Case.id)))


def export(session: Session, address: str, tick: Tick = no_tick) -> dict[str, Any]:
    """Everything kept about `address`: cases with messages and events, raw mail as text.

    `tick(1)` follows each case read (a long-standing customer has many)."""
    address = address.strip().lower()
    cases = customer_cases(session, address)
    raw_ids = [m.raw_message_id for c in cases for m in c.messages if m.raw_message_id]
    raw_ids += _uncased_raw_ids(session, address)
    raws = session.scalars(select(RawMessage).where(RawMessage.id.in_(raw_ids))
                           .order_by(RawMessage.id)).all()
    outbox = session.scalars(select(Outbox).where(Outbox.recipient == address)).all()
    return {
        "address": address,
        "cases": [_ticked(detail(session, case), tick) for case in cases],
        "raw_messages": [{"id": r.id, "received_at": r.received_at.isoformat(),
                          "source": r.source, "text": _text(r.raw)} for r in raws],
        "mail_sent": [{"kind": o.kind, "created_at": o.created_at.isoformat(),
                       "state": o.state, "text": _text(o.raw)} for o in outbox],
    }


@dataclass
class ErasureReport:
    cases: int = 0
    raw_messages: int = 0
    mails: int = 0


def erase(session: Session, address: str, *, actor: str, at: datetime) -> ErasureReport:
    """Remove personal data of `address`; keep anonymised statistics of its cases."""
    address = address.strip().lower()
    report = ErasureReport()
    for case in customer_cases(session, address):
        if case.customer_address == address:
            _erase_case(session, case, address, report)
            casework.record(session, case, "privacy_erased", actor=actor, at=at)
            report.cases += 1
        session.execute(delete(Participant).where(
            Participant.case_id == case.id, Participant.address == address))
    report.mails += _erase_outbox(session, Outbox.recipient == address)
    session.execute(update(Suppression).where(Suppression.sender == address).values(sender=None))
    report.raw_messages += _erase_uncased_raw(session, address, at)
    return report


def _uncased_raw_ids(session: Session, address: str) -> list[int]:
    """Raw mail that no case holds and that names `address` anywhere (headers or text).

    Such mail is rare (quarantined, ignored auto-replies, bounces), so it is read in pages
    and searched for the address as it is written in mail: lower-cased ASCII.
    """
    held = select(CaseMessage.raw_message_id).where(CaseMessage.raw_message_id.is_not(None))
    query = (select(RawMessage.id, RawMessage.raw)
             .where(RawMessage.raw.is_not(None), RawMessage.id.not_in(held))
             .execution_options(yield_per=100))
    needle = address.encode()
    return [raw_id for raw_id, raw in session.execute(query)
            if raw is not None and needle in raw.lower()]


def _erase_uncased_raw(session: Session, address: str, at: datetime) -> int:
    """Erase the raw mail no case holds; a quarantined one is settled (it cannot run again)."""
    ids = _uncased_raw_ids(session, address)
    if not ids:
        return 0
    session.execute(update(Quarantine).where(
        Quarantine.raw_message_id.in_(ids), Quarantine.resolved_at.is_(None))
        .values(resolved_at=at, error="erased on request; " + Quarantine.error))
    return _rowcount(session.execute(update(RawMessage).where(RawMessage.id.in_(ids)).values(
        raw=None, message_id=None, state="done", outcome="privacy_erased")))


def _erase_case(session: Session, case: Case, address: str, report: ErasureReport) -> None:
    case.customer_name = case.customer_address = None
    case.subject, case.description = ERASED, ""
    case.order_numbers, case.phone_numbers = [], []
    if case.recovery:
        case.recovery = {**case.recovery, "actions": [
            {**a, "note": None} for a in case.recovery.get("actions", [])]}
    raw_ids = [m.raw_message_id for m in case.messages if m.raw_message_id]
    for message in case.messages:
        message.sender, message.subject, message.text, message.attachments = None, "", "", []
        if message.direction == "in":
            message.message_id = None
    session.execute(delete(Participant).where(Participant.case_id == case.id))
    for event in case.events:
        if event.actor == address:
            event.actor, event.note = "customer", None
        if event.note and address in event.note.lower():
            event.note = event.note.lower().replace(address, ERASED)
        if event.new == address:
            event.new = ERASED
    if raw_ids:
        report.raw_messages += _rowcount(session.execute(update(RawMessage).where(
            RawMessage.id.in_(raw_ids)).values(raw=None, message_id=None)))
    report.mails += _erase_outbox(session, Outbox.case_id == case.id)


def _erase_outbox(session: Session, where: Any) -> int:
    session.execute(update(Outbox).where(where, Outbox.state == "pending")
                    .values(state="cancelled"))
    result = session.execute(update(Outbox).where(where, Outbox.raw != b"")
                             .values(raw=b"", recipient=ERASED))
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
