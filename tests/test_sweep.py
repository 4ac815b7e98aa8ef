"""The SLA sweep: escalation 1 → 2 → 3 on time, once per level, also with two sweeps at once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ingestd.casework import build_sender, escalate
from ingestd.procedure.recurring import SpikePolicy, category_spike
from ingestd.procedure.sweep import sweep
from ingestd.services import Services
from storage import Case, Event
from tests.procedure_support import (
    ESCALATION,
    Clock,
    add_case,
    make_services,
    outbox,
    run_cli,
    write_config,
)
from tests.servers import SmtpSink

MONDAY = datetime(2026, 9, 7, 10, 0, tzinfo=UTC)


def levels(services: Services, case_id: int) -> list[str | None]:
    with services.factory() as session:
        return list(session.scalars(select(Event.new).where(
            Event.case_id == case_id, Event.kind == "escalation").order_by(Event.id)))


def test_unattended_case_escalates_once_per_level(db_url: str, tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    services = make_services(db_url, tmp_path, clock)
    case_id = add_case(services, MONDAY)
    timeline = [(23.9, []), (24, ["1"]), (25, ["1"]), (47.9, ["1"]), (48, ["1", "2"]),
                (60, ["1", "2"]), (72, ["1", "2", "3"]), (200, ["1", "2", "3"])]
    for hours, expected in timeline:
        sweep(services, MONDAY + timedelta(hours=hours))
        sweep(services, MONDAY + timedelta(hours=hours))  # a second sweep changes nothing
        assert levels(services, case_id) == expected, hours
    rows = outbox(services, "escalation")
    assert [(r.recipient, r.key) for r in rows] == [
        (ESCALATION[f"level{n}"], f"escalation:{case_id}:{n}") for n in (1, 2, 3)]
    with services.factory() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.escalation_level == 3
        notes = [e.note for e in case.events if e.kind == "escalation"]
    assert notes == ["not picked up within 24 h", "unresolved after 48 h", "unresolved after 72 h"]


def test_escalation_mails_reach_each_level_once(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    clock = Clock(MONDAY)
    services = make_services(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path, clock,
                             smtp={"mode": "smtp", "host": smtp_sink.host, "port": smtp_sink.port,
                                   "security": "none", "username": smtp_sink.username,
                                   "password": smtp_sink.password,
                                   "from": "Customer Support <support@example.test>"})
    add_case(services, MONDAY, subject="Broken kettle")
    sender = build_sender(services)
    for hours in (24, 30, 48, 50, 72, 80):
        clock.now = MONDAY + timedelta(hours=hours)
        sweep(services, clock.now)
        sender.deliver_pending()
    received = smtp_sink.wait_for(3)
    assert [m.rcpt_tos for m in received] == [(ESCALATION[f"level{n}"],) for n in (1, 2, 3)]
    subjects = [" ".join(str(m.message["Subject"]).split()) for m in received]
    assert subjects[0].startswith("Escalation level 1 (supervisor): Broken kettle [CMP-")
    assert subjects[2].startswith("Escalation level 3 (senior management)")
    assert len(smtp_sink.messages) == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_assigned_case_skips_supervisor_until_unresolved(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    case_id = add_case(services, MONDAY, assignee="bob", assigned_at=MONDAY,
                       status="investigating")
    sweep(services, MONDAY + timedelta(hours=30))
    assert levels(services, case_id) == []
    sweep(services, MONDAY + timedelta(hours=49))  # level 1 is passed: told once as well
    assert levels(services, case_id) == ["1", "2"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_resolved_case_is_not_escalated(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    case_id = add_case(services, MONDAY, status="resolved", resolved_at=MONDAY)
    sweep(services, MONDAY + timedelta(hours=100))
    assert levels(services, case_id) == []


def test_jump_notifies_every_level_passed(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    late = add_case(services, MONDAY)
    recurring = add_case(services, MONDAY + timedelta(hours=79),
                         triage={"reasons": ["rule: recurring_customer"]})
    report = sweep(services, MONDAY + timedelta(hours=80))
    assert levels(services, late) == ["1", "2", "3"]
    assert levels(services, recurring) == ["1", "2", "3"]
    assert len(report.escalations) == 6
    with services.factory() as session:
        notes = list(session.scalars(select(Event.note).where(Event.case_id == recurring)
                                     .where(Event.kind == "escalation")))
    assert notes == ["recurring complaint: senior management"] * 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_serious_case_raised_by_triage_goes_on_to_level3(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    case_id = add_case(services, MONDAY, serious=True, escalate=True, severity="critical",
                       triage={"reasons": ["rule: legal_threat"]})
    with services.factory() as session, session.begin():  # what start_clocks does
        case = session.get(Case, case_id)
        assert case is not None
        escalate(session, case, 2, reason="rule: legal_threat", composer=services.composer,
                 address=ESCALATION["level2"], at=MONDAY)
    sweep(services, MONDAY + timedelta(hours=1))
    assert levels(services, case_id) == ["2"]
    sweep(services, MONDAY + timedelta(hours=72))
    assert levels(services, case_id) == ["2", "3"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_breaches_are_counted(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    add_case(services, MONDAY, acknowledged_at=MONDAY)
    add_case(services, MONDAY, status="new")
    report = sweep(services, MONDAY + timedelta(days=3))
    assert report.open_cases == 2
    assert report.breaches == {"acknowledge": 1, "investigate": 2, "resolve": 0}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_sweeps_at_once_notify_once(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    ids = [add_case(services, MONDAY + timedelta(minutes=i)) for i in range(40)]
    now = MONDAY + timedelta(hours=100)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            sweep(services, now)
        except BaseException as exc:  # noqa: BLE001  (reported by the test below)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for case_id in ids:
        assert levels(services, case_id) == ["1", "2", "3"]
    # one customer's 40 cases: over the flood cap, the mail waits for the digest, once all the same
    rows = outbox(services, "escalation") + outbox(services, "held_escalation")
    assert len(rows) == 3 * len(ids)
    assert len({r.key for r in rows}) == len(rows)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_sweep_command(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    add_case(services, MONDAY)
    out = run_cli(write_config(tmp_path, db_url), "sla", "sweep", "--now",
                  "2026-09-09T10:00:00", "--json")
    data = json.loads(out)
    assert [e["level"] for e in data["escalations"]] == [1, 2]
    assert data["breaches"] == {"acknowledge": 1, "investigate": 1, "resolve": 0}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_category_spike(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    policy = SpikePolicy(window_hours=24, baseline_days=7, factor=3, min_cases=5)
    for day in range(1, 8):  # one billing case a day for the week before: baseline 1 a day
        add_case(services, MONDAY - timedelta(days=day, hours=1), category="billing")
    for minute in range(5):
        add_case(services, MONDAY - timedelta(minutes=minute + 1), category="billing")
    with services.factory() as session:
        assert not category_spike(session, "billing", MONDAY, policy)  # 5: not above the floor
    add_case(services, MONDAY - timedelta(minutes=30), category="billing")
    with services.factory() as session:
        assert category_spike(session, "billing", MONDAY, policy)  # 6 > 5 and > 3 x 1
        assert not category_spike(session, "delivery", MONDAY, policy)
        busy = policy.model_copy(update={"factor": 7})
        assert not category_spike(session, "billing", MONDAY, busy)  # 6 is not > 7 x 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_no_spike_without_history(db_url: str, tmp_path: Path) -> None:
    """A new installation's first backlog is not a spike: there is no usual volume yet."""
    services = make_services(db_url, tmp_path, Clock(MONDAY))
    policy = SpikePolicy(window_hours=24, baseline_days=7, factor=3, min_cases=5)
    for minute in range(50):
        add_case(services, MONDAY - timedelta(minutes=minute + 1), category="billing")
    with services.factory() as session:
        assert not category_spike(session, "billing", MONDAY, policy)


def _sink_smtp(sink: SmtpSink) -> dict[str, object]:
    return {"mode": "smtp", "host": sink.host, "port": sink.port, "security": "none",
            "username": sink.username, "password": sink.password,
            "from": "Customer Support <support@example.test>"}


def test_sweep_ahead_of_the_clock_sends_its_notices_now(db_url: str, tmp_path: Path,
                                                        smtp_sink: SmtpSink) -> None:
    """`sla sweep --now` three days ahead: the levels are as of then, the mail goes now."""
    now = datetime.now(UTC)
    clock = Clock(now)
    services = make_services(db_url, tmp_path, clock, smtp=_sink_smtp(smtp_sink))
    case_id = add_case(services, now, subject="Broken kettle")
    ahead = (now + timedelta(days=3, minutes=1)).isoformat()
    data = json.loads(run_cli(write_config(tmp_path, db_url), "sla", "sweep", "--now", ahead,
                              "--json"))
    assert [e["level"] for e in data["escalations"]] == [1, 2, 3]
    assert levels(services, case_id) == ["1", "2", "3"]
    clock.now = datetime.now(UTC)  # the sender runs on the real clock, three days earlier
    assert build_sender(services).deliver_pending().sent == 3
    received = smtp_sink.wait_for(3)
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(ESCALATION.values())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_follow_up_of_a_sweep_ahead_is_due_at_once(db_url: str, tmp_path: Path,
                                                   smtp_sink: SmtpSink) -> None:
    services = make_services(db_url, tmp_path, Clock(MONDAY), smtp=_sink_smtp(smtp_sink))
    add_case(services, MONDAY, status="resolved", resolved_at=MONDAY,
             followup_due=MONDAY + timedelta(days=2))
    assert sweep(services, MONDAY + timedelta(days=2)).followups == ["CMP-2026-000001"]
    assert build_sender(services).deliver_pending().sent == 1
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ("ann@example.test",)
    assert "Is your issue solved?" in " ".join(str(mail.message["Subject"]).split())
