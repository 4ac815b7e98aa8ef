"""A customer's data: export on request, erasure that keeps statistics, retention purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ingestd import casework
from ingestd.pipeline import retry_quarantined
from ingestd.privacy import erase, export, purge_expired
from ingestd.qa import sample, verdict
from ingestd.services import Services
from storage import Case, CaseMessage, Event, Outbox, Participant, Quarantine, RawMessage
from tests.procedure_support import (
    Clock,
    fixed_triage,
    mail,
    make_services,
    receive,
    run_cli,
    use_triage,
    write_config,
)

NOW = datetime(2026, 9, 7, 10, 0, tzinfo=UTC)
ANN = "ann@example.test"


@pytest.fixture
def two_customers(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    services = make_services(db_url, tmp_path, Clock(NOW))
    use_triage(monkeypatch, fixed_triage("billing", "high"))
    receive(services, mail(ANN, "Charged twice for order 123456",
                           "Call me on +44 20 7946 0958, Ann Example.", "a1@ann.example", NOW))
    receive(services, mail("bo@example.test", "Late parcel", "Still waiting.", "b1@bo.example",
                           NOW))
    receive(services, mail(ANN, "Re: Charged twice [CMP-2026-000001]", "Any news?",
                           "a2@ann.example", NOW, in_reply_to="a1@ann.example"))
    return services


def test_export_has_everything_about_the_customer(two_customers: Services, db_url: str,
                                                  tmp_path: Path) -> None:
    data = json.loads(run_cli(write_config(tmp_path, db_url), "privacy", "export", ANN))
    assert [c["reference"] for c in data["cases"]] == ["CMP-2026-000001"]
    [case] = data["cases"]
    assert [m["text"] for m in case["messages"] if m["direction"] == "in"] == [
        "Call me on +44 20 7946 0958, Ann Example.", "Any news?"]
    assert case["events"] and case["participants"][0]["address"] == ANN
    assert len(data["raw_messages"]) == 2
    assert "Message-ID: <a1@ann.example>" in data["raw_messages"][0]["text"]
    assert {m["kind"] for m in data["mail_sent"]} == {"acknowledgment"}


def test_erase_removes_personal_data_and_keeps_statistics(two_customers: Services) -> None:
    services = two_customers
    with services.factory() as session, session.begin():
        case = session.scalars(select(Case).where(Case.reference == "CMP-2026-000001")).one()
        casework.record_recovery(session, case, "refund", actor="bob", at=NOW, amount="10",
                                note="Ann wanted it on her Visa")
        done = erase(session, ANN, actor="dpo", at=NOW)
    assert (done.cases, done.raw_messages) == (1, 2)
    with services.factory() as session:
        case = session.scalars(select(Case).where(Case.reference == "CMP-2026-000001")).one()
        assert (case.customer_name, case.customer_address) == (None, None)
        assert (case.subject, case.description, case.order_numbers, case.phone_numbers) == (
            "[erased]", "", [], [])
        assert (case.category, case.severity, case.received_at) == ("billing", "high", NOW)
        assert case.recovery["actions"][0]["note"] is None
        assert all(m.text == "" and m.sender is None for m in case.messages)
        raws = session.scalars(select(RawMessage).where(RawMessage.id.in_(
            [m.raw_message_id for m in case.messages if m.raw_message_id]))).all()
        assert [r.raw for r in raws] == [None, None]
        assert session.scalar(select(func.count()).select_from(Participant).where(
            Participant.address == ANN)) == 0
        assert not any(ANN in (e.actor + (e.note or "") + (e.new or "")) for e in case.events)
        assert case.events[-1].kind == "privacy_erased"
        for row in session.scalars(select(Outbox).where(Outbox.case_id == case.id)):
            assert (row.raw, row.recipient) == (b"", "[erased]")
        other = session.scalars(select(Case).where(Case.reference == "CMP-2026-000002")).one()
        assert other.customer_address == "bo@example.test" and other.messages[0].text
    assert export_is_empty(services)


def test_export_and_erase_take_the_mail_no_case_holds(two_customers: Services) -> None:
    """An ignored out-of-office and a quarantined mail from Ann are her data too."""
    services = two_customers
    away = mail(ANN, "Out of office", "Back on Monday.", "ooo@ann.example", NOW).replace(
        b"Subject:", b"Auto-Submitted: auto-replied\nSubject:")
    receive(services, away)
    receive(services, b"no header at all\n\nAnn <ann@example.test> says: my card 4111")
    receive(services, b"no header at all\n\nBo <bo@example.test> says: hello")
    with services.factory() as session:
        texts = [r["text"] for r in export(session, ANN)["raw_messages"]]
    assert len(texts) == 4 and "Back on Monday." in texts[2] and "my card 4111" in texts[3]
    with services.factory() as session, session.begin():
        assert erase(session, ANN, actor="dpo", at=NOW).raw_messages == 4
    with services.factory() as session:
        left = session.scalars(select(RawMessage.raw).where(RawMessage.raw.is_not(None))).all()
        assert len(left) == 2 and all(ANN.encode() not in raw for raw in left)  # Bo's two
        entries = {q.raw_message_id: q for q in session.scalars(select(Quarantine))}
        settled = [q for q in entries.values() if q.resolved_at is not None]
        assert len(entries) == 2 and len(settled) == 1
        assert settled[0].error.startswith("erased on request")
    assert retry_quarantined(services).quarantined == 1  # type: ignore[arg-type]  # Bo's only
    assert export_is_empty(services)


def export_is_empty(services: Services) -> bool:
    with services.factory() as session:
        data = export(session, ANN)
    return data["cases"] == [] and data["raw_messages"] == [] and data["mail_sent"] == []


def test_purge_deletes_old_closed_cases_with_raw_mail(two_customers: Services) -> None:
    services = two_customers
    days = services.settings.retention.closed_case_days
    with services.factory() as session, session.begin():
        old, recent = session.scalars(select(Case).order_by(Case.id)).all()
        for case, closed in ((old, NOW - timedelta(days=days + 1)),
                             (recent, NOW - timedelta(days=days - 1))):
            case.status, case.closed_at = "closed", closed
    report = purge_expired(services, NOW)
    assert (report.cases, report.raw_messages) == (1, 2)
    with services.factory() as session:
        assert session.scalars(select(Case.reference)).all() == ["CMP-2026-000002"]
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 1
        for table in (CaseMessage, Event, Outbox):
            rows = session.scalars(select(table.case_id)).all()
            assert set(rows) <= {recent.id}
    assert purge_expired(services, NOW).cases == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_qa_sample_and_verdict(two_customers: Services, db_url: str, tmp_path: Path) -> None:
    services = two_customers
    config = write_config(tmp_path, db_url)
    with services.factory() as session, session.begin():
        for case in session.scalars(select(Case)):
            case.status, case.resolved_at = "resolved", NOW
        first = [c.reference for c in sample(session, 1, actor="qa", at=NOW, seed=7)]
    rows = json.loads(run_cli(config, "qa", "sample", "5", "--seed", "7", "--json"))
    assert len(first) == 1 and [r["reference"] for r in rows] != first and len(rows) == 1
    run_cli(config, "qa", "verdict", first[0], "fail", "--note", "no apology", "--actor", "lee")
    with services.factory() as session, session.begin():
        case = session.scalars(select(Case).where(Case.reference == first[0])).one()
        assert case.qa is not None
        assert (case.qa["verdict"], case.qa["note"], case.qa["reviewer"]) == (
            "fail", "no apology", "lee")
        with pytest.raises(Exception, match="verdict must be"):
            verdict(session, case, "maybe", note=None, actor="lee", at=NOW)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_erase_and_purge_commands(two_customers: Services, db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url)
    run_cli(config, "privacy", "erase", ANN, "--yes")
    assert export_is_empty(two_customers)
    with two_customers.factory() as session, session.begin():
        for case in session.scalars(select(Case)):
            case.status, case.closed_at = "closed", NOW
    run_cli(config, "privacy", "purge", "--now", "2030-01-01T00:00:00")
    with two_customers.factory() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
