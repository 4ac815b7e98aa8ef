"""The agents' desk below the web page: users, search, views, bulk changes, notes, "not a
complaint" and the mail agents get, on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text

from ingestd import casework
from ingestd.casework import CaseQuery, search_cases
from ingestd.errors import IngestdError
from ingestd.reports.monthly import monthly_report
from ingestd.services import Services
from storage import Case, CaseNote, Outbox, make_engine, sessions, transaction
from storage.db import alembic_config
from tests import support
from tests.procedure_support import (
    Clock,
    add_case,
    fixed_triage,
    mail,
    make_services,
    outbox,
    receive,
    use_triage,
    write_config,
)
from tests.servers import SmtpSink

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # a Tuesday
PASSWORD = "correct horse battery"


def _users(services: Services, *names: str) -> None:
    with transaction(services.factory) as session:
        for name in names:
            casework.add_user(session, name, f"{name}@example.test", "agent", PASSWORD)


def _search(services: Services, user: str | None = "ann", **fields: Any) -> casework.CasePage:
    with services.factory() as session:
        return search_cases(session, CaseQuery(**fields), now=services.clock(), user=user)


def _refs(page: casework.CasePage) -> list[str]:
    return [row["reference"] for row in page.rows]


def _ref(services: Services, case_id: int) -> str:
    with services.factory() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.reference is not None
        return case.reference


# ----------------------------------------------------------------------------- users


def test_users_cli_reads_the_password_from_a_pipe_and_refuses_what_it_cannot_use(
        db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url)
    assert support.run_cli(config, "db", "upgrade").returncode == 0

    added = support.run_cli(config, "users", "add", "ann", "--email", "ann@example.test",
                            "--role", "admin", stdin=f"{PASSWORD}\n".encode())
    assert added.returncode == 0, added.stderr
    again = support.run_cli(config, "users", "add", "ann", "--email", "ann@example.test",
                            stdin=f"{PASSWORD}\n".encode())
    short = support.run_cli(config, "users", "add", "bob", "--email", "bob@example.test",
                            stdin=b"short\n")
    empty = support.run_cli(config, "users", "add", "bob", "--email", "bob@example.test",
                            stdin=b"")
    unknown = support.run_cli(config, "users", "passwd", "nobody", stdin=b"whatever1234\n")
    listed = support.run_cli(config, "users", "list", "--json")

    assert again.returncode == 1 and again.stderr.strip() == (
        "ingestd: user 'ann' exists; change the password with: ingestd users passwd ann")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    assert empty.returncode == 1 and "no password given" in empty.stderr
    assert unknown.returncode != 0 and "no user 'nobody'" in unknown.stderr
    assert [len(r.stderr.strip().splitlines()) for r in (again, short, empty, unknown)] == \
        [1, 1, 1, 1]
    assert json.loads(listed.stdout) == [
        {"name": "ann", "email": "ann@example.test", "role": "admin", "disabled": False}]

    engine = make_engine(db_url)
    with transaction(sessions(engine)) as session:
        assert casework.authenticate(session, "ann", PASSWORD) == casework.UserView(
            "ann", "ann@example.test", "admin", False)  # the newline was not part of it
        assert casework.authenticate(session, "ann", PASSWORD + "\n") is None
        assert casework.authenticate(session, "nobody", PASSWORD) is None
    assert support.run_cli(config, "users", "passwd", "ann",
                           stdin=b"another long secret\n").returncode == 0
    assert support.run_cli(config, "users", "disable", "ann").returncode == 0
    with transaction(sessions(engine)) as session:
        assert casework.authenticate(session, "ann", "another long secret") is None
        assert casework.get_user(session, "ann").disabled
        casework.enable_user(session, "ann")
    with transaction(sessions(engine)) as session:
        assert casework.authenticate(session, "ann", "another long secret") is not None
    engine.dispose()


def casework_sessions(engine: Any) -> Any:
    from storage import sessions  # noqa: PLC0415  (only these tests open a bare factory)

    return sessions(engine)


def test_assignees_are_users_once_any_exists(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(NOW))
    case_id = add_case(services, NOW)
    reference = _ref(services, case_id)
    config = write_config(tmp_path, db_url)
    # No users yet (an install from before the desk): any name, as before.
    assert support.run_cli(config, "cases", "assign", reference, "Free Text").returncode == 0
    _users(services, "bob")
    with transaction(services.factory) as session:
        casework.disable_user(session, "bob")

    unknown = support.run_cli(config, "cases", "assign", reference, "carol")
    disabled = support.run_cli(config, "cases", "assign", reference, "bob")

    assert unknown.returncode == 1 and unknown.stderr.strip() == (
        "ingestd: no user 'carol'; add one: ingestd users add carol --email ADDRESS "
        "--role agent")
    assert disabled.returncode == 1 and "user 'bob' is disabled" in disabled.stderr
    with services.factory() as session:
        assert session.get(Case, case_id).assignee == "Free Text"  # type: ignore[union-attr]
    services.close()


# ----------------------------------------------------------------------------- migration


def test_db_upgrade_from_0002_indexes_the_cases_already_there(db_url: str,
                                                               tmp_path: Path) -> None:
    engine = make_engine(db_url)
    command.upgrade(alembic_config(engine), "0002")
    with engine.begin() as connection:
        connection.execute(text(
            'INSERT INTO "case" (reference, status, subject, description, received_at, '
            "created_at, updated_at, order_numbers, phone_numbers, flags, escalate, "
            "needs_review, escalation_level, serious, customer_address, customer_name) VALUES "
            "('CMP-2026-000001', 'new', 'Kettle', 'The kettle leaks boiling water', :at, :at, "
            ":at, '[]', '[]', '[]', false, false, 0, false, 'ann@example.test', 'Ann')"),
            {"at": NOW})
    engine.dispose()

    upgraded = support.run_cli(write_config(tmp_path, db_url), "db", "upgrade")

    assert upgraded.returncode == 0, upgraded.stderr
    services = make_services(db_url, tmp_path, Clock(NOW))
    assert _refs(_search(services, text="boiling", view="all")) == ["CMP-2026-000001"]
    with services.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.not_complaint is False
        assert casework.list_users(session) == []
    services.close()


# ----------------------------------------------------------------------------- search


def test_a_case_is_found_by_a_word_of_its_body_and_follows_its_edits(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = make_services(db_url, tmp_path, Clock(NOW))
    use_triage(monkeypatch, fixed_triage("product", "medium"))
    receive(services, mail("ann@example.test", "Broken appliance",
                           "The thermostat of my Zephyrine heater cracked on day two.",
                           "m1@a.example", NOW))
    receive(services, mail("bo@example.test", "Late parcel", "The heater never arrived.",
                           "m2@b.example", NOW, name="Bo Other"))

    assert _refs(_search(services, text="zephyrine")) == ["CMP-2026-000001"]
    assert _refs(_search(services, text="Zephyr")) == ["CMP-2026-000001"]  # start of a word
    assert _refs(_search(services, text="heater", sort="reference")) == [
        "CMP-2026-000001", "CMP-2026-000002"]
    assert _refs(_search(services, text="heater arrived")) == ["CMP-2026-000002"]
    assert _refs(_search(services, text="bo@example.test")) == ["CMP-2026-000002"]
    assert _refs(_search(services, text="Other")) == ["CMP-2026-000002"]  # the customer's name
    assert _search(services, text="toaster").total == 0
    assert _search(services, text="%'\"*:&|!").total == 0  # no words: nothing matches

    with transaction(services.factory) as session:  # the index follows the case's text
        case = casework.get_case(session, "CMP-2026-000001")
        case.description = "Now about a toaster."
    assert _refs(_search(services, text="toaster")) == ["CMP-2026-000001"]
    assert _search(services, text="zephyrine").total == 0
    services.close()


def test_views_filters_sort_by_next_deadline_and_paging(db_url: str, tmp_path: Path) -> None:
    clock = Clock(NOW)
    services = make_services(db_url, tmp_path, clock)
    _users(services, "ann", "bob")
    hour = timedelta(hours=1)
    ids = {
        "breached": add_case(services, NOW - 30 * hour, assignee="ann",
                             resolve_due=NOW - 2 * hour, investigate_due=NOW - 20 * hour,
                             assigned_at=NOW - 29 * hour, acknowledged_at=NOW - 29 * hour),
        "soon": add_case(services, NOW - hour, escalation_level=1, acknowledged_at=NOW,
                         assignee="bob", assigned_at=NOW - hour, resolve_due=NOW + 3 * hour),
        "later": add_case(services, NOW - 2 * hour, needs_review=True, status="new",
                          acknowledge_due=NOW + 20 * hour, severity="critical"),
        "closed": add_case(services, NOW - 40 * hour, status="closed", closed_at=NOW,
                           assignee="ann", customer_address="cy@example.test",
                           customer_name="Cy Closed"),
    }
    refs = {name: _ref(services, case_id) for name, case_id in ids.items()}

    def view(name: str, **more: Any) -> list[str]:
        return _refs(_search(services, view=name, sort="reference", **more))

    def names(found: list[str]) -> set[str]:
        return {name for name, ref in refs.items() if ref in found}

    assert names(view("mine")) == {"breached"}  # ann's, open
    assert names(view("mine", user=None)) == set()
    assert names(view("unassigned")) == {"later"}
    assert names(view("escalated")) == {"soon"}
    assert names(view("breaching")) == {"breached", "soon"}  # passed, or within 4 hours
    assert names(view("review")) == {"later"}
    assert names(view("open")) == {"breached", "soon", "later"}
    assert names(view("closed")) == {"closed"}
    assert _refs(_search(services, view="closed")) == [refs["closed"]]  # by the next deadline
    assert _refs(_search(services, view="open")) == [refs["breached"], refs["soon"], refs["later"]]
    assert names(view("all")) == set(refs)
    assert names(view("all", assignee="ann")) == {"breached", "closed"}
    assert names(view("all", severity="critical")) == {"later"}
    assert names(view("all", level=1)) == {"soon"}
    assert names(view("all", customer="Cy")) == {"closed"}
    assert names(view("all", customer="cy@example.test")) == {"closed"}
    assert names(view("all", received_from=(NOW - 3 * hour).date(),
                      received_to=NOW.date())) == {"soon", "later"}

    by_due = _search(services, view="all")  # the default order: the most urgent first
    assert [row["reference"] for row in by_due.rows] == [
        refs["breached"], refs["soon"], refs["later"], refs["closed"]]
    seconds = [row["next_due_seconds"] for row in by_due.rows]
    assert seconds == [-2 * 3600, 3 * 3600, 20 * 3600, None]  # negative once breached
    assert _refs(_search(services, view="all", sort="-next_due"))[:3] == [
        refs["later"], refs["soon"], refs["breached"]]
    assert _refs(_search(services, view="all", sort="-severity"))[0] == refs["later"]

    first = _search(services, view="all", sort="received", per_page=3)
    second = _search(services, view="all", sort="received", per_page=3, page=2)
    assert (first.total, first.pages, second.total) == (4, 2, 4)
    assert _refs(first) + _refs(second) == [refs["closed"], refs["breached"], refs["later"],
                                            refs["soon"]]
    with pytest.raises(IngestdError, match="unknown view 'urgent'"):
        _search(services, view="urgent")
    with pytest.raises(IngestdError, match="unknown sort 'due'"):
        _search(services, sort="due")
    services.close()


# ----------------------------------------------------------------------------- actions


def test_bulk_assigns_twenty_cases_and_tells_the_assignee_within_the_caps(
        db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(NOW))
    _users(services, "ann", "bob")
    refs = [_ref(services, add_case(services, NOW - timedelta(minutes=i), status="new",
                                    customer_address=f"c{i}@example.test"))
            for i in range(20)]

    with transaction(services.factory) as session:
        changed = casework.bulk(session, services, refs, "assign", "bob", actor="ann", at=NOW)
    with transaction(services.factory) as session:  # a second time changes nothing
        again = casework.bulk(session, services, refs, "assign", "bob", actor="ann", at=NOW)

    assert (changed, again) == (20, 0)
    assert _search(services, view="mine", user="bob").total == 20
    mails = outbox(services, "assigned")
    assert len(mails) == 20 and {m.recipient for m in mails} == {"bob@example.test"}

    with transaction(services.factory) as session:
        moved = casework.bulk(session, services, refs[:5], "status", "investigating",
                              actor="ann", at=NOW)
        labelled = casework.bulk(session, services, refs[5:8], "label", "billing",
                                 actor="ann", at=NOW)
    assert (moved, labelled) == (5, 3)
    # five may be resolved, the sixth (new) may not: all or nothing
    with pytest.raises(IngestdError, match=rf"{refs[5]}: cannot go from new to resolved.*"
                                           "nothing was changed"), \
            transaction(services.factory) as session:
        casework.bulk(session, services, refs[:6], "status", "resolved", actor="ann", at=NOW)
    assert _search(services, view="all", status="resolved").total == 0
    assert _search(services, view="all", status="investigating").total == 5
    assert _search(services, view="all", category="billing").total == 3
    with pytest.raises(IngestdError, match="no case 'CMP-2026-999999'"), \
            transaction(services.factory) as session:
        casework.bulk(session, services, ["CMP-2026-999999"], "assign", "ann", actor="ann",
                      at=NOW)
    services.close()


def test_notes_are_kept_with_the_case_and_never_mailed(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(NOW))
    reference = _ref(services, add_case(services, NOW))
    before = len(outbox(services))

    with transaction(services.factory) as session:
        case = casework.get_case(session, reference)
        casework.add_note(session, case, "  Customer called; promised a callback.  ",
                          actor="ann", at=NOW)
        with pytest.raises(IngestdError, match="the note is empty"):
            casework.add_note(session, case, " \n ", actor="ann", at=NOW)

    assert len(outbox(services)) == before
    with services.factory() as session:
        case = casework.get_case(session, reference)
        assert casework.notes(session, case) == [
            {"author": "ann", "at": NOW.isoformat(),
             "text": "Customer called; promised a callback."}]
        assert [e["kind"] for e in casework.detail(session, case)["events"]][-1] == "note"
        assert session.scalar(select(CaseNote.text)) == "Customer called; promised a callback."
    services.close()


def test_not_a_complaint_is_closed_without_mail_and_left_out_of_report_and_training(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = make_services(db_url, tmp_path, Clock(NOW))
    use_triage(monkeypatch, fixed_triage("billing", "low"))
    receive(services, mail("news@shop.example", "Our spring sale", "Up to 50% off!",
                           "n1@shop.example", NOW, name="Shop News"))
    receive(services, mail("ann@example.test", "Charged twice", "Refund me please.",
                           "a1@a.example", NOW))
    assert {m.kind for m in outbox(services) if m.recipient == "news@shop.example"} == {
        "acknowledgment"}  # waiting to be sent
    with transaction(services.factory) as session:
        for reference in ("CMP-2026-000001", "CMP-2026-000002"):
            casework.correct_labels(session, casework.get_case(session, reference),
                                    category="product_quality", severity=None, actor="ann", at=NOW,
                                    categories=services.settings.triage.categories)
        with pytest.raises(IngestdError, match="say why"):
            casework.mark_not_complaint(session, casework.get_case(session, "CMP-2026-000001"),
                                        actor="ann", at=NOW, reason=" ")
        casework.mark_not_complaint(session, casework.get_case(session, "CMP-2026-000001"),
                                    actor="ann", at=NOW, reason="newsletter")

    assert [m.recipient for m in outbox(services) if m.recipient == "news@shop.example"] == []
    casework.build_sender(services).deliver_pending()
    sent_to = [str(email.message_from_bytes(p.read_bytes())["To"])
               for p in (tmp_path / "outbox").iterdir()]
    assert "ann@example.test" in " ".join(sent_to)
    assert not any("news@shop.example" in to for to in sent_to)
    with services.factory() as session:
        spam = casework.get_case(session, "CMP-2026-000001")
        assert (spam.status, spam.not_complaint) == ("closed", True)
        assert casework.detail(session, spam)["messages"][-1]["direction"] == "in"
        report = monthly_report(session, datetime(2026, 3, 1, tzinfo=UTC),
                                datetime(2026, 4, 1, tzinfo=UTC), NOW)
        assert report.total == 1 and report.trend[-1]["total"] == 1
        assert [c.reference for c in casework.corrected_cases(session)] == ["CMP-2026-000002"]
    page = _search(services, view="closed")
    assert _refs(page) == ["CMP-2026-000001"] and page.rows[0]["not_complaint"] is True
    services.close()


# ----------------------------------------------------------------------------- notifications


def _sink_settings(sink: SmtpSink) -> dict[str, Any]:
    return {"smtp": {"mode": "smtp", "host": sink.host, "port": sink.port, "security": "none",
                     "from": "Customer Support <support@example.test>", "timeout": 5}}


def _to(sink: SmtpSink, address: str) -> list[email.message.Message]:
    return [m.message for m in sink.messages if address in m.rcpt_tos]


def test_assignment_and_customer_replies_mail_the_assignee_or_the_team(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        smtp_sink: SmtpSink) -> None:
    clock = Clock(NOW)
    services = make_services(db_url, tmp_path, clock, **_sink_settings(smtp_sink))
    use_triage(monkeypatch, fixed_triage("delivery", "medium"))
    _users(services, "ann", "bob")
    receive(services, mail("cy@example.test", "Parcel lost", "Where is my parcel?",
                           "c1@c.example", NOW, name="Cy"))
    receive(services, mail("dee@example.test", "Parcel broken", "It came in pieces.",
                           "d1@d.example", NOW, name="Dee"))
    with transaction(services.factory) as session:
        casework.assign(session, casework.get_case(session, "CMP-2026-000001"), "bob",
                        actor="ann", at=NOW, note="you know this courier", services=services)
        casework.assign(session, casework.get_case(session, "CMP-2026-000002"), "ann",
                        actor="ann", at=NOW, services=services)  # her own: no mail
    casework.build_sender(services).deliver_pending()

    [assigned] = _to(smtp_sink, "bob@example.test")
    assert str(assigned["Subject"]) == "Assigned to you: Parcel lost [CMP-2026-000001]"
    body = assigned.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "ann has given you case CMP-2026-000001" in body and "you know this courier" in body
    assert _to(smtp_sink, "ann@example.test") == []

    clock.now = NOW + timedelta(hours=1)
    receive(services, mail("cy@example.test", "Re: Parcel lost [CMP-2026-000001]",
                           "Any news? The tracking page is blank.", "c2@c.example", clock.now,
                           name="Cy"))
    receive(services, mail("dee@example.test", "Re: Parcel broken [CMP-2026-000002]",
                           "Photos attached.", "d2@d.example", clock.now, name="Dee"))
    with transaction(services.factory) as session:
        casework.disable_user(session, "ann")  # a case of a disabled user goes to the team
    receive(services, mail("dee@example.test", "Re: Parcel broken [CMP-2026-000002]",
                           "Hello?", "d3@d.example", clock.now, name="Dee"))
    casework.build_sender(services).deliver_pending()

    replied = [m for m in _to(smtp_sink, "bob@example.test") if "replied" in str(m["Subject"])]
    assert len(replied) == 1
    assert str(replied[0]["Subject"]) == "Customer replied: Parcel lost [CMP-2026-000001]"
    assert "The tracking page is blank." in replied[0].get_payload(  # type: ignore[union-attr]
        decode=True).decode()
    [to_ann] = [m for m in _to(smtp_sink, "ann@example.test") if "replied" in str(m["Subject"])]
    assert "Photos attached." in to_ann.get_payload(decode=True).decode()  # type: ignore[union-attr]
    team = [m for m in _to(smtp_sink, "agents@example.test")
            if "Customer replied" in str(m["Subject"])]
    assert len(team) == 1 and "Hello?" in team[0].get_payload(  # type: ignore[union-attr]
        decode=True).decode()
    services.close()


def test_replies_over_the_flood_cap_are_held_for_the_digest(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = make_services(db_url, tmp_path, Clock(NOW),
                             floods={"team_mails_per_sender_per_hour": 2})
    use_triage(monkeypatch, fixed_triage("delivery", "medium"))
    receive(services, mail("cy@example.test", "Parcel lost", "Where is it?", "c0@c.example",
                           NOW, name="Cy"))
    for i in range(1, 5):
        receive(services, mail("cy@example.test", "Re: Parcel lost [CMP-2026-000001]",
                               f"Reply number {i}.", f"c{i}@c.example", NOW, name="Cy"))

    kinds = [m.kind for m in outbox(services) if m.recipient == "agents@example.test"]
    # the new case's notification and one reply count to the cap of 2; three replies wait
    assert kinds == ["team_notification", "customer_replied", *["held_customer_replied"] * 3]
    with services.factory() as session:
        assert session.scalar(select(Outbox.state).where(
            Outbox.kind == "held_customer_replied")) == "held"
    services.close()
