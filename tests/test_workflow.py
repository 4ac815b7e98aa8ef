"""Case workflow end to end: clocks from a real mail, routing, and the agent commands."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ingestd import casework
from ingestd.cli import _register, cli
from ingestd.errors import IngestdError
from storage import Case, Event
from tests.procedure_support import (
    Clock,
    fixed_triage,
    mail,
    make_services,
    outbox,
    receive,
    use_triage,
    write_config,
)

LONDON = ZoneInfo("Europe/London")
# Friday 16:00 before the Late Summer Bank Holiday (Monday 2026-08-31, England).
FRIDAY = datetime(2026, 8, 28, 16, 0, tzinfo=LONDON)
CUSTOMER = "ann@example.test"


def test_friday_mail_before_bank_holiday_gets_business_day_deadlines(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(FRIDAY.astimezone(UTC) + timedelta(seconds=5))
    services = make_services(db_url, tmp_path, clock)
    use_triage(monkeypatch, fixed_triage())
    receive(services, mail(CUSTOMER, "Parcel never arrived", "Where is order 123456?",
                           "friday@customer.example", FRIDAY), received_at=FRIDAY)
    with services.factory() as session:
        case = session.scalars(select(Case)).one()
    assert case.received_at == FRIDAY
    assert case.acknowledge_due == datetime(2026, 8, 29, 16, 0, tzinfo=LONDON)
    assert case.investigate_due == datetime(2026, 9, 1, 16, 0, tzinfo=LONDON)  # Mon is a holiday
    assert case.resolve_due == datetime(2026, 9, 7, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_urgent_friday_mail_gets_urgent_deadlines_and_level2(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = make_services(db_url, tmp_path, Clock(FRIDAY.astimezone(UTC)))
    use_triage(monkeypatch, fixed_triage("safety_legal", "critical", ("rule: legal_threat",)))
    receive(services, mail(CUSTOMER, "Legal action", "My lawyer will write to you.",
                           "urgent@customer.example", FRIDAY), received_at=FRIDAY)
    with services.factory() as session:
        case = session.scalars(select(Case)).one()
    assert case.acknowledge_due == datetime(2026, 8, 28, 18, 0, tzinfo=LONDON)
    assert case.resolve_due == datetime(2026, 9, 1, 16, 0, tzinfo=LONDON)
    assert case.escalation_level == 2
    assert [r.recipient for r in outbox(services, "escalation")] == ["manager@example.test"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_team_notification_goes_to_the_category_address(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = make_services(db_url, tmp_path, Clock(FRIDAY.astimezone(UTC)))
    use_triage(monkeypatch, fixed_triage("billing", "high"))
    receive(services, mail(CUSTOMER, "Charged twice", "You charged my card twice.",
                           "bill@customer.example", FRIDAY))
    [row] = outbox(services, "team_notification")
    assert row.recipient == "billing-team@example.test"
    message = email.message_from_bytes(row.raw, policy=policy.default)
    assert message["X-Ingestd-Category"] == "billing"
    assert message["X-Ingestd-Severity"] == "high"
    assert message["X-Ingestd-Case"] == "CMP-2026-000001"
    body = message.get_content()
    assert "billing" in body and "high" in body
    use_triage(monkeypatch, fixed_triage("delivery"))
    receive(services, mail("bo@example.test", "Late", "Late parcel.", "late@b.example", FRIDAY))
    assert outbox(services, "team_notification")[-1].recipient == "agents@example.test"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_status_changes_are_events_and_bad_ones_refused(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(FRIDAY.astimezone(UTC))
    services = make_services(db_url, tmp_path, clock)
    use_triage(monkeypatch, fixed_triage())
    receive(services, mail(CUSTOMER, "Broken", "It broke.", "b@customer.example", FRIDAY))
    with services.factory() as session, session.begin():
        case = session.scalars(select(Case)).one()
        for status in ("investigating", "resolved", "closed", "investigating", "resolved"):
            casework.change_status(session, services, case, status, actor="bob", at=clock.now,
                                  note=f"to {status}")
        with pytest.raises(IngestdError, match="cannot go from resolved to new"):
            casework.change_status(session, services, case, "new", actor="bob", at=clock.now)
        history = [(e.old, e.new, e.actor) for e in case.events if e.kind == "status"]
    assert history[1:] == [("new", "investigating", "bob"), ("investigating", "resolved", "bob"),
                           ("resolved", "closed", "bob"), ("closed", "investigating", "bob"),
                           ("investigating", "resolved", "bob")]


@pytest.fixture
def config_file(db_url: str, tmp_path: Path) -> Path:
    return write_config(tmp_path, db_url)


def test_agent_commands(db_url: str, tmp_path: Path, config_file: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    services = make_services(db_url, tmp_path, Clock(datetime.now(UTC)))
    use_triage(monkeypatch, fixed_triage())
    receive(services, mail(CUSTOMER, "Parcel never arrived", "Where is it?",
                           "first@customer.example", FRIDAY))
    _register()
    runner = CliRunner()
    monkeypatch.setenv("INGESTD_ACTOR", "carol")

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--config", str(config_file), *args],
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    ref = "CMP-2026-000001"
    run("cases", "assign", ref, "bob", "--note", "yours")
    run("cases", "status", ref, "investigating", "--note", "looking", "--actor", "bob")
    body = tmp_path / "body.txt"
    body.write_text("We are sending a new parcel today.\n", encoding="utf-8")
    run("cases", "reply", ref, "--file", str(body), "--actor", "bob")
    run("cases", "recovery", ref, "replacement")
    run("cases", "recovery", ref, "refund", "--amount", "12.50")
    run("cases", "corrective-action", ref, "--root-cause", "courier lost parcels",
        "--action", "changed courier for the area")
    run("cases", "status", ref, "resolved", "--actor", "bob")
    [listed] = json.loads(run("cases", "list", "--json", "--assignee", "bob"))
    assert (listed["reference"], listed["status"], listed["message_count"]) == (ref, "resolved", 1)
    shown = json.loads(run("cases", "show", ref, "--json"))
    assert shown["recovery"]["latest"] == "refund"
    assert shown["recovery"]["actions"][1]["amount"] == "12.50"
    assert shown["corrective_action"]["root_cause"] == "courier lost parcels"
    assert shown["deadlines"]["followup"] is not None
    [reply] = outbox(services, "agent_reply")
    sent = email.message_from_bytes(reply.raw, policy=policy.default)
    assert reply.recipient == CUSTOMER
    assert sent["In-Reply-To"] == "<first@customer.example>"
    assert f"[{ref}]" in sent["Subject"] and sent["Subject"].startswith("Re: Parcel")
    assert "We are sending a new parcel today." in sent.get_content()
    assert "Support Team" in sent.get_content()
    with services.factory() as session:
        events = session.scalars(select(Event).order_by(Event.id)).all()
        actors = {(e.kind, e.actor) for e in events}
    assert {("assign", "carol"), ("status", "bob"), ("reply", "bob"), ("recovery", "carol"),
            ("corrective_action", "carol")} <= actors
    bad = runner.invoke(cli, ["--config", str(config_file), "cases", "recovery", ref, "refund",
                              "--amount", "lots"])
    assert bad.exit_code == 1 and "not a number" in bad.stderr
    missing = runner.invoke(cli, ["--config", str(config_file), "cases", "assign", "CMP-1", "x"])
    assert missing.exit_code == 2 and "no case" in missing.stderr
