"""The satisfaction follow-up: due after resolution, sent once, the answer read from a reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ingestd import casework
from ingestd.procedure.followup_mail import read_answer
from ingestd.procedure.sweep import sweep
from ingestd.services import Services
from storage import Case, Event
from tests.procedure_support import (
    Clock,
    fixed_triage,
    mail,
    make_services,
    outbox,
    receive,
    use_triage,
)

START = datetime(2026, 9, 7, 10, 0, tzinfo=UTC)
CUSTOMER = "ann@example.test"


@pytest.mark.parametrize(("text", "score", "solved"), [
    ("Solved, 5", 5, True),
    ("solved 4/5 thanks", 4, True),
    ("Not solved. 1", 1, False),
    ("It is still not fixed, 2 out of 5", 2, False),
    ("Gelöst, 5 von 5", 5, True),
    ("Nicht gelöst - 2", 2, False),
    ("Résolu, note 4", 4, True),
    ("Pas résolu du tout. 1/5", 1, False),
    ("Resuelto, 5", 5, True),
    ("No resuelto. Puntuación 2", 2, False),
    ("unresolved", None, False),
    ("3", 3, None),
    ("Thanks, my order 12345 arrived on 2026-09-08", None, None),
])
def test_read_answer(text: str, score: int | None, solved: bool | None) -> None:
    answer = read_answer(text)
    assert (answer.score, answer.solved) == (score, solved)


def _resolved_case(services: Services, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> int:
    use_triage(monkeypatch, fixed_triage())
    receive(services, mail(CUSTOMER, "Parcel never arrived", "Order 123456 is missing.",
                           "first@customer.example", START))
    clock.now = START + timedelta(days=1)
    with services.factory() as session, session.begin():
        case = session.scalars(select(Case)).one()
        for status in ("investigating", "resolved"):
            casework.change_status(session, services, case, status, actor="bob", at=clock.now,
                                   note="parcel re-sent")
        assert case.followup_due == clock.now + timedelta(days=2)
        return case.id


def _send_followup(services: Services, clock: Clock) -> str:
    assert sweep(services, START + timedelta(days=2, hours=23)).followups == []
    clock.now = START + timedelta(days=3)
    assert sweep(services, clock.now).followups == ["CMP-2026-000001"]
    assert sweep(services, clock.now + timedelta(hours=1)).followups == []  # once
    rows = outbox(services, "followup")
    assert len(rows) == 1 and rows[0].recipient == CUSTOMER
    assert b"In-Reply-To: <first@customer.example>" in rows[0].raw
    return rows[0].message_id


def _reply(services: Services, clock: Clock, followup_id: str, text: str) -> Case:
    clock.now += timedelta(hours=5)
    quoted = "\n".join("> " + line for line in "Is your issue solved?\nReply 1 to 5".splitlines())
    receive(services, mail(CUSTOMER, "Re: Is your issue solved? [CMP-2026-000001]",
                           f"{text}\n\nOn Monday you wrote:\n{quoted}\n",
                           "answer@customer.example", clock.now, in_reply_to=followup_id))
    with services.factory() as session:
        case = session.scalars(select(Case)).one()
        session.expunge_all()
        return case


def test_solved_answer_records_score_and_keeps_case_resolved(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    services = make_services(db_url, tmp_path, clock)
    case_id = _resolved_case(services, clock, monkeypatch)
    followup_id = _send_followup(services, clock)
    case = _reply(services, clock, followup_id, "Solved, 5 - thank you!")
    assert (case.status, case.satisfaction, case.solved_confirmed) == ("resolved", 5, True)
    assert case.followup_sent_at == START + timedelta(days=3)
    with services.factory() as session:
        kinds = list(session.scalars(select(Event.kind).where(Event.case_id == case_id)))
        messages = session.scalars(select(Case)).one().messages
        # acknowledgment, investigating and resolved updates, follow-up; then the answer
        assert [m.direction for m in messages] == ["in", "out", "out", "out", "out", "in"]
    assert kinds.count("satisfaction") == 1 and kinds.count("followup") == 1


def test_not_solved_answer_reopens(db_url: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    services = make_services(db_url, tmp_path, clock)
    _resolved_case(services, clock, monkeypatch)
    followup_id = _send_followup(services, clock)
    case = _reply(services, clock, followup_id, "Not solved at all. 2")
    assert (case.status, case.satisfaction, case.solved_confirmed) == ("investigating", 2, False)
    assert case.resolved_at is None and case.followup_due is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_other_reply_to_resolved_case_still_reopens(db_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    services = make_services(db_url, tmp_path, clock)
    _resolved_case(services, clock, monkeypatch)
    receive(services, mail(CUSTOMER, "Re: Parcel never arrived [CMP-2026-000001]",
                           "The replacement is broken too.", "again@customer.example",
                           clock.now, in_reply_to="first@customer.example"))
    with services.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.status == "investigating" and case.satisfaction is None
