"""Escalation: raise a case to a level once, record it, and notify that level's address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingestd.casework._floods import notify
from ingestd.casework._read import case_view
from ingestd.casework._record import enqueue, record
from ingestd.config import FloodsConfig
from ingestd.mailout import Composer
from storage import Case

LEVEL_ROLES = {1: "supervisor", 2: "department manager", 3: "senior management"}


def escalate(session: Session, case: Case, level: int, *, reason: str, composer: Composer,
             address: str, at: datetime, actor: str = "ingestd",
             due: datetime | None = None, floods: FloodsConfig | None = None) -> bool:
    """Raise `case` to `level` once, record it and notify that level's address.

    The notice is sent from `due` on (default `at`: see `enqueue`). A unique index on
    escalation events makes a second sweep (or a second instance) that reaches the same
    decision fail harmlessly instead of notifying twice. With `floods`, the mail over a
    flood cap is held for the address's digest (the case escalates all the same).
    """
    if level <= case.escalation_level or not _first_to_escalate(
            session, case, level, reason=reason, actor=actor, at=at):
        return False
    case.escalation_level = level
    draft = composer.compose("escalation", address, case.reference or "", {
        **case_view(case), "level": level, "level_role": LEVEL_ROLES[level], "reason": reason})
    key = f"escalation:{case.id}:{level}"
    if floods is None:
        enqueue(session, draft, case, key=key, at=at, due=due)
    else:
        notify(session, draft, case, key=key, at=at, due=due, floods=floods)
    return True


def _first_to_escalate(session: Session, case: Case, level: int, *, reason: str, actor: str,
                       at: datetime) -> bool:
    """Record the escalation event; False when another sweep or instance already did."""
    def add_event() -> None:
        record(session, case, "escalation", actor=actor, at=at,
               old=str(case.escalation_level), new=str(level), note=reason)

    if inspect(case).pending:  # a case not written yet has no escalation to collide with
        add_event()
        return True
    try:
        with session.begin_nested():
            add_event()
            session.flush()
    except IntegrityError:
        return False
    return True
