"""The procedure's allowed status moves (casework._status), enforced for agents; an admin's
--force is recorded on the case."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from ingestd import casework
from ingestd.cli import _register, cli
from ingestd.errors import IngestdError
from ingestd.services import Services
from storage import Case, transaction
from tests import support
from tests.procedure_support import (
    Clock,
    fixed_triage,
    mail,
    make_services,
    outbox,
    receive,
    use_triage,
)
from tests.servers import SmtpSink

REF = "CMP-2026-000001"
CUSTOMER = "ann@example.test"


def _cli(config: Path, *args: str) -> Result:
    _register()
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def _setup(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           **overrides: object) -> tuple[Services, Path]:
    services = make_services(db_url, tmp_path, Clock(datetime.now(UTC)), **overrides)
    use_triage(monkeypatch, fixed_triage())
    receive(services, mail(CUSTOMER, "Parcel never arrived", "Where is it?",
                           "first@customer.example", datetime.now(UTC)))
    with transaction(services.factory) as session:  # what the sender does once the ack is out
        casework.set_status(session, casework.get_case(session, REF), "acknowledged",
                            actor="ingestd", at=datetime.now(UTC))
    config = support.write_config(tmp_path, support.ConfigSpec(
        db_url, extra='[cases]\nadmins = ["alice"]\n'))
    return services, config


def _status(services: Services) -> str:
    with services.factory() as session:
        return session.scalars(select(Case.status)).one()


def test_skipping_a_step_is_refused(db_url: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    services, config = _setup(db_url, tmp_path, monkeypatch)
    for target in ("closed", "resolved"):
        refused = _cli(config, "cases", "status", REF, target, "--actor", "bob")
        assert refused.exit_code == 1
        assert f"cannot go from acknowledged to {target}; allowed: investigating" in \
            refused.stderr
    assert _status(services) == "acknowledged"
    for step in ("investigating", "resolved", "closed", "investigating"):  # closed: reopened
        assert _cli(config, "cases", "status", REF, step, "--actor", "bob").exit_code == 0
    back = _cli(config, "cases", "status", REF, "acknowledged", "--actor", "bob")
    assert back.exit_code == 1 and "cannot go from investigating to acknowledged" in back.stderr


def test_admin_forces_a_move_and_the_case_remembers(db_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    services, config = _setup(db_url, tmp_path, monkeypatch)
    agent = _cli(config, "cases", "status", REF, "closed", "--force", "--note", "spam",
                 "--actor", "bob")
    assert agent.exit_code == 1 and "'bob' is not in [cases] admins" in agent.stderr
    silent = _cli(config, "cases", "status", REF, "closed", "--force", "--actor", "alice")
    assert silent.exit_code == 1 and "--note" in silent.stderr
    assert _status(services) == "acknowledged"
    forced = _cli(config, "cases", "status", REF, "closed", "--force", "--note",
                  "duplicate of CMP-2026-000007", "--actor", "alice")
    assert forced.exit_code == 0, forced.output
    shown = json.loads(_cli(config, "cases", "show", REF, "--json").stdout)
    last = shown["events"][-1]
    assert (shown["status"], last["kind"], last["actor"], last["old"], last["new"]) == (
        "closed", "status", "alice", "acknowledged", "closed")
    assert last["note"] == "forced: duplicate of CMP-2026-000007"


def test_no_agent_reply_to_a_closed_case_unless_forced(db_url: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       smtp_sink: SmtpSink) -> None:
    services, config = _setup(db_url, tmp_path, monkeypatch, smtp={
        "mode": "smtp", "host": smtp_sink.host, "port": smtp_sink.port, "security": "none",
        "from": "Customer Support <support@example.test>"})
    casework.build_sender(services).deliver_pending()
    with transaction(services.factory) as session:
        case = casework.get_case(session, REF)
        for status in ("investigating", "resolved", "closed"):
            casework.set_status(session, case, status, actor="bob", at=datetime.now(UTC))
    body = tmp_path / "body.txt"
    body.write_text("One more thing about your parcel.\n", encoding="utf-8")
    reply = ("cases", "reply", REF, "--file", str(body))
    refused = _cli(config, *reply, "--actor", "bob")
    assert refused.exit_code == 1
    assert f"{REF} is closed; reopen it first: ingestd cases status {REF} investigating" in \
        refused.stderr
    assert _cli(config, *reply, "--force", "--note", "x", "--actor", "bob").exit_code == 1
    assert outbox(services, "agent_reply") == []
    forced = _cli(config, *reply, "--force", "--note", "court order asks us to write",
                  "--actor", "alice")
    assert forced.exit_code == 0, forced.output
    before = len(smtp_sink.messages)
    services.clock = lambda: datetime.now(UTC) + timedelta(seconds=1)  # the CLI's clock ran on
    casework.build_sender(services).deliver_pending()
    [sent] = smtp_sink.messages[before:]
    assert sent.rcpt_tos == (CUSTOMER,) and b"One more thing about your parcel." in sent.data
    shown = json.loads(_cli(config, "cases", "show", REF, "--json").stdout)
    event = shown["events"][-1]
    assert (event["kind"], event["actor"], event["note"]) == (
        "reply", "alice", "forced: court order asks us to write")
    assert shown["status"] == "closed"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_reopen_by_the_customer_still_works(db_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    services, _config = _setup(db_url, tmp_path, monkeypatch)
    with transaction(services.factory) as session:
        case = casework.get_case(session, REF)
        with pytest.raises(IngestdError, match="cannot go from acknowledged to resolved"):
            casework.set_status(session, case, "resolved", actor="bob", at=datetime.now(UTC))
        for status in ("investigating", "resolved"):
            casework.set_status(session, case, status, actor="bob", at=datetime.now(UTC))
    receive(services, mail(CUSTOMER, f"Re: Parcel never arrived [{REF}]", "Still missing.",
                           "second@customer.example", datetime.now(UTC),
                           in_reply_to="first@customer.example"))
    assert _status(services) == "investigating"
