"""Customer updates (seeds: "keep the customer informed of the progress and estimated
resolution timeline"): who has the case and when, what was done, a new date before the old
one passes; one a day per case, switchable per kind, never to robots, counted monthly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingestd import casework
from ingestd.config import load
from ingestd.errors import ConfigError
from ingestd.procedure.sweep import sweep
from ingestd.reports import monthly_report, parse_month, render_text
from ingestd.services import Services
from storage import Case, Event, transaction
from tests.procedure_support import (
    Clock,
    fixed_triage,
    mail,
    make_services,
    outbox,
    receive,
    use_triage,
)
from tests.servers import ReceivedMessage, SmtpSink

START = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)  # Monday 10:00 in London
CUSTOMER = "ann@example.test"
REF = "CMP-2026-000001"


def _services(tmp_path: Path, sink: SmtpSink, clock: Clock, db_url: str | None = None,
              **overrides: Any) -> Services:
    smtp = {"mode": "smtp", "host": sink.host, "port": sink.port, "security": "none",
            "username": sink.username, "password": sink.password,
            "from": "Customer Support <support@example.test>"}
    return make_services(db_url or f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path, clock,
                         smtp=smtp, **overrides)


def _open_case(services: Services, monkeypatch: pytest.MonkeyPatch, sender: str = CUSTOMER,
               raw: bytes | None = None) -> None:
    use_triage(monkeypatch, fixed_triage())
    receive(services, raw or mail(sender, "Parcel never arrived", "Order 123456 is missing.",
                                  "first@customer.example", START))


def _to_customer(sink: SmtpSink, since: int, address: str = CUSTOMER) -> list[ReceivedMessage]:
    return [m for m in sink.messages[since:] if m.rcpt_tos == (address,)]


def _deliver(services: Services, sink: SmtpSink) -> list[ReceivedMessage]:
    """Send what is due now; the customer's mails among them."""
    before = len(sink.messages)
    casework.build_sender(services).deliver_pending()
    return _to_customer(sink, before)


def _change(services: Services, status: str, at: datetime, **kwargs: Any) -> str | None:
    with transaction(services.factory) as session:
        case = casework.get_case(session, REF)
        return casework.change_status(session, services, case, status, actor="bob", at=at,
                                      **kwargs)


def _text(message: ReceivedMessage) -> str:
    payload = message.message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return " ".join(payload.decode("utf-8").split())


def _subject(message: ReceivedMessage) -> str:
    return " ".join(str(message.message["Subject"]).split())


def _events(services: Services, kind: str) -> list[Event]:
    with services.factory() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def _day(services: Services, value: datetime) -> str:
    return value.astimezone(services.calendar.zone).strftime("%A %d %B %Y")


def test_customer_hears_who_has_it_and_when_then_what_was_done(
        tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    services = _services(tmp_path, smtp_sink, clock)
    _open_case(services, monkeypatch)
    [ack] = _deliver(services, smtp_sink)
    clock.now = START + timedelta(hours=2)
    with transaction(services.factory) as session:
        case = casework.get_case(session, REF)
        casework.assign(session, case, "Bob Baker", actor="carol", at=clock.now)
        resolve_due = case.resolve_due
    assert resolve_due is not None
    assert _change(services, "investigating", clock.now) is None
    [working] = _deliver(services, smtp_sink)
    assert _subject(working) == f"We are working on your complaint: Parcel never arrived [{REF}]"
    assert working.message["In-Reply-To"] == "<first@customer.example>"
    assert working.message["Auto-Submitted"] == "auto-replied"
    assert "Bob Baker from our team has it" in _text(working)
    assert f"resolve it by {_day(services, resolve_due)}" in _text(working)

    clock.now = START + timedelta(days=1, hours=3)
    with transaction(services.factory) as session:
        casework.record_recovery(session, casework.get_case(session, REF), "refund",
                                 actor="bob", at=clock.now, amount="12.50")
    _change(services, "resolved", clock.now, resolution="We sent a new parcel by courier.")
    [resolved] = _deliver(services, smtp_sink)
    assert _subject(resolved) == f"Your complaint is resolved: Parcel never arrived [{REF}]"
    text = _text(resolved)
    assert "What we did: We sent a new parcel by courier. - refund of 12.50" in text
    assert "simply reply to this message: your case will be reopened" in text
    assert [e.new for e in _events(services, "update")] == ["investigating", "resolved"]
    assert ack.rcpt_tos == (CUSTOMER,)


def test_one_update_a_day_holds_the_next_and_drops_a_stale_one(
        tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    services = _services(tmp_path, smtp_sink, clock)
    _open_case(services, monkeypatch)
    _deliver(services, smtp_sink)
    _change(services, "investigating", START)
    assert len(_deliver(services, smtp_sink)) == 1
    clock.now = START + timedelta(hours=1)
    _change(services, "resolved", clock.now, resolution="Parcel found.")
    assert _deliver(services, smtp_sink) == []  # held: one update a day
    clock.now = START + timedelta(hours=2)  # resolved too soon: the agent reopens it
    _change(services, "investigating", clock.now)
    clock.now = START + timedelta(hours=23, minutes=59)
    assert _deliver(services, smtp_sink) == []
    clock.now = START + timedelta(hours=24)
    [latest] = _deliver(services, smtp_sink)
    assert _subject(latest).startswith("We are working on your complaint")
    assert [e.new for e in _events(services, "update_withdrawn")] == ["resolved"]
    assert [r.kind for r in outbox(services) if r.kind.startswith("update_")] == [
        "update_investigating", "update_investigating"]
    with services.factory() as session:
        case = casework.get_case(session, REF)
        assert [m.subject for m in case.messages if m.direction == "out"][1:] == [
            f"We are working on your complaint: Parcel never arrived [{REF}]"] * 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_a_held_resolved_update_is_dropped_when_the_customer_reopens(
        db_url: str, tmp_path: Path, smtp_sink: SmtpSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    services = _services(tmp_path, smtp_sink, clock, db_url)
    _open_case(services, monkeypatch)
    _change(services, "investigating", START)
    assert len(_deliver(services, smtp_sink)) == 2  # acknowledgment, investigating
    clock.now = START + timedelta(hours=1)
    _change(services, "resolved", clock.now)  # held until tomorrow
    clock.now = START + timedelta(hours=3)
    receive(services, mail(CUSTOMER, f"Re: Parcel never arrived [{REF}]", "It is not here.",
                           "again@customer.example", clock.now,
                           in_reply_to="first@customer.example"))
    clock.now = START + timedelta(days=2)
    assert _deliver(services, smtp_sink) == []
    assert [(e.actor, e.new) for e in _events(services, "update_withdrawn")] == [
        (CUSTOMER, "resolved")]


def _robot_mail() -> bytes:
    return b"Auto-Submitted: auto-generated\r\n" + mail(
        "alerts@monitor.example", "Parcel never arrived", "Order 123456 is missing.",
        "robot@monitor.example", START)


@pytest.mark.parametrize(("sender", "raw"), [
    ("alerts@monitor.example", _robot_mail()),
    ("no-reply@shop.example", None),
])
def test_robots_get_no_updates(tmp_path: Path, smtp_sink: SmtpSink,
                               monkeypatch: pytest.MonkeyPatch, sender: str,
                               raw: bytes | None) -> None:
    clock = Clock(START)
    services = _services(tmp_path, smtp_sink, clock)
    _open_case(services, monkeypatch, sender, raw)
    _deliver(services, smtp_sink)
    before = len(smtp_sink.messages)
    assert _change(services, "investigating", START) == "the customer is a robot or a list"
    _change(services, "resolved", START + timedelta(days=2), resolution="Done.")
    casework.build_sender(services).deliver_pending()
    assert _to_customer(smtp_sink, before, sender) == []
    assert [r for r in outbox(services) if r.kind.startswith("update_")] == []
    assert [e.new for e in _events(services, "update_skipped")] == ["investigating", "resolved"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_each_kind_switches_off(db_url: str, tmp_path: Path, smtp_sink: SmtpSink,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    services = _services(tmp_path, smtp_sink, clock, db_url, updates={"investigating": False})
    _open_case(services, monkeypatch)
    _deliver(services, smtp_sink)
    assert _change(services, "investigating", START) == "switched off in [updates]"
    assert _deliver(services, smtp_sink) == []
    clock.now = START + timedelta(hours=1)
    _change(services, "resolved", clock.now)
    [resolved] = _deliver(services, smtp_sink)  # nothing sent today: not held
    assert "Our team has dealt with the problem you reported." in _text(resolved)
    misspelt = tmp_path / "misspelt.toml"
    misspelt.write_text("[updates]\ninvestgating = false\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"misspelt.toml: unknown key 'updates.investgating'"):
        load(misspelt)


def test_new_date_before_the_promised_one_passes_and_monthly_count(
        db_url: str, tmp_path: Path, smtp_sink: SmtpSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(START)
    services = _services(tmp_path, smtp_sink, clock, db_url)
    _open_case(services, monkeypatch)
    clock.now = START + timedelta(hours=1)
    _change(services, "investigating", clock.now)
    assert len(_deliver(services, smtp_sink)) == 2  # the acknowledgment and the update
    with services.factory() as session:
        due = session.scalars(select(Case.resolve_due)).one()
    assert due is not None
    first_new = services.calendar.add_business_days(due, 2)

    def sweep_at(moment: datetime) -> list[str]:
        clock.now = moment
        return sweep(services, moment).updates

    assert sweep_at(due - timedelta(hours=25)) == []
    assert sweep_at(due - timedelta(hours=12)) == [REF]
    [notice] = _deliver(services, smtp_sink)
    assert _subject(notice) == f"A new date for your complaint: Parcel never arrived [{REF}]"
    assert (f"expected to resolve it by {_day(services, due)}" in _text(notice) and
            f"now expect to resolve it by {_day(services, first_new)}" in _text(notice))
    assert sweep_at(due - timedelta(hours=11)) == []  # told once; the new date is far off
    assert sweep_at(first_new - timedelta(hours=1)) == [REF]  # still open: a date again
    [second] = _deliver(services, smtp_sink)
    assert _day(services, services.calendar.add_business_days(first_new, 2)) in _text(second)
    assert sweep_at(first_new + timedelta(days=9)) == []  # the promises are past: no late one

    with services.factory() as session:
        start, end = parse_month("2026-09", START)
        report = monthly_report(session, start, end, clock.now)
    assert report.updates == {"investigating": 1, "resolved": 0, "new_date": 2}
    assert "Customer updates sent:" in render_text(report)
