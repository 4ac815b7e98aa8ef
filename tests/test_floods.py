"""Floods and loops: caps per normalised sender and in all, one digest instead of many mails,
and X-Loop read on what comes in and written on what goes out (SPEC: no mail loops)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingestd import casework, config, intake
from ingestd.config import FloodsConfig
from ingestd.errors import ConfigError
from ingestd.pipeline import process_pending
from ingestd.services import Services
from ingestd.sources.delivery import Delivery
from storage import Suppression, transaction
from tests.procedure_support import Clock, fixed_triage, mail, make_services, use_triage
from tests.servers import SmtpSink

NOW = datetime(2026, 9, 7, 10, 0, tzinfo=UTC)
TEAM = "billing-team@example.test"
MANAGER = "manager@example.test"


def _services(db_url: str, tmp_path: Path, sink: SmtpSink, **overrides: Any) -> Services:
    smtp = {"mode": "smtp", "host": sink.host, "port": sink.port, "security": "none",
            "from": "Customer Support <support@example.test>", "max_attempts": 5,
            "backoff_seconds": 0.01, "timeout": 5}
    return make_services(db_url, tmp_path, Clock(NOW), smtp=smtp, **overrides)


def _arrive(services: Services, mails: list[bytes]) -> None:
    """The mails arrive together and are processed in one batch, as a drain does."""
    with transaction(services.factory) as session:
        intake.store(session, [Delivery(source="support", raw=raw) for raw in mails],
                     services.clock())
    process_pending(services)


def _send(services: Services) -> None:
    casework.build_sender(services).deliver_pending()


def _to(sink: SmtpSink, address: str, kind: str | None = None) -> list[Message]:
    found = [m.message for m in sink.messages if address in m.rcpt_tos]
    return [m for m in found if kind is None or _kind(m) == kind]


def _kind(message: Message) -> str:
    if message["Auto-Submitted"] == "auto-replied":
        return "acknowledgment"
    subject = str(message["Subject"])
    if "[DIGEST]" in subject:
        return "digest"
    return "escalation" if subject.startswith("Escalation") else "team_notification"


def _complaints(sender: str, count: int, tag: str = "flood") -> list[bytes]:
    return [mail(sender, f"Complaint {tag} {n}", f"Problem number {n}.", f"{tag}{n}@x.example",
                 NOW, name="Flo Flood") for n in range(count)]


def _reasons(services: Services) -> list[str]:
    with services.factory() as session:
        return list(session.scalars(select(Suppression.reason).order_by(Suppression.id)))


def test_fifty_mails_from_one_sender_cost_three_acks_and_a_digest(
        db_url: str, tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    services = _services(db_url, tmp_path, smtp_sink)
    use_triage(monkeypatch, fixed_triage("billing", "critical"))  # each one escalates
    _arrive(services, _complaints("flood@example.test", 50))
    _send(services)
    assert len(_to(smtp_sink, "flood@example.test", "acknowledgment")) == 3
    assert len(_to(smtp_sink, TEAM, "team_notification")) == 5
    assert len(_to(smtp_sink, MANAGER, "escalation")) == 5
    assert _reasons(services) == ["rate limit: 3 acknowledgments per hour"] * 47
    assert len(smtp_sink.messages) == 13
    services.clock.now = NOW + timedelta(minutes=59)  # type: ignore[attr-defined]  # a Clock
    _send(services)
    assert len(smtp_sink.messages) == 13  # the digest waits an hour from the first held mail
    services.clock.now = NOW + timedelta(minutes=61)  # type: ignore[attr-defined]  # a Clock
    _send(services)
    _send(services)
    for address in (TEAM, MANAGER):
        [digest] = _to(smtp_sink, address, "digest")
        body = digest.get_payload(decode=True).decode()
        assert "45 mails held back" in str(digest["Subject"])
        held = [f"CMP-2026-{n:06d}" for n in range(6, 51)]
        assert all(reference in body for reference in held)
        assert "CMP-2026-000005 " not in body  # sent on its own, not in the digest
    assert len(smtp_sink.messages) == 15


def test_tagged_cased_and_dotted_spellings_are_one_sender(
        db_url: str, tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    services = _services(db_url, tmp_path, smtp_sink)
    use_triage(monkeypatch, fixed_triage("billing", "low"))
    tagged = [f"flood+{n}@example.test" for n in range(10)] + ["FLOOD@Example.Test"]
    dotted = ["f.l.o.o.d+1@gmail.com", "flood@googlemail.com", "F.lood@gmail.com",
              "fl.ood@gmail.com", "flo.od+x@GoogleMail.com"]
    people = ["a.b@example.test", "ab@example.test"]  # dots matter outside gmail
    _arrive(services, [mail(address, f"Complaint {n}", "It broke.", f"m{n}@x.example", NOW)
                       for n, address in enumerate(tagged + dotted + people)])
    _send(services)
    acked = [m.rcpt_tos[0] for m in smtp_sink.messages if _kind(m.message) == "acknowledgment"]
    assert acked == [a.lower() for a in tagged[:3] + dotted[:3] + people]
    assert len(_reasons(services)) == 8 + 2


def test_overall_caps_suppress_acknowledgments_and_hold_team_mail_for_a_digest(
        db_url: str, tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    services = _services(db_url, tmp_path, smtp_sink, floods={
        "acknowledgments_per_hour": 5, "team_mails_per_hour": 4})
    use_triage(monkeypatch, fixed_triage("billing", "low"))
    _arrive(services, [mail(f"customer{n}@example.net", f"Complaint {n}", "It broke.",
                            f"c{n}@x.example", NOW) for n in range(8)])
    services.clock.now = NOW + timedelta(minutes=30)  # type: ignore[attr-defined]  # a Clock
    _arrive(services, [mail("late@example.net", "Late one", "Me too.", "late@x.example", NOW)])
    _send(services)
    assert len([m for m in smtp_sink.messages if _kind(m.message) == "acknowledgment"]) == 5
    assert _reasons(services) == ["flood cap: 5 acknowledgments per hour in all"] * 4
    assert len(_to(smtp_sink, TEAM)) == 4
    services.clock.now = NOW + timedelta(minutes=61)  # type: ignore[attr-defined]  # a Clock
    _send(services)
    [digest] = _to(smtp_sink, TEAM, "digest")
    assert "5 mails held back" in str(digest["Subject"])
    assert "late@example.net" in digest.get_payload(decode=True).decode()


def test_x_loop_naming_us_is_not_answered_and_all_our_mail_carries_it(
        db_url: str, tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    services = _services(db_url, tmp_path, smtp_sink)
    use_triage(monkeypatch, fixed_triage("billing", "critical"))
    looped = mail("robot@example.net", "Your case", "Forwarded back to you.", "l1@x.example",
                  NOW).replace(b"Subject:", b"X-Loop: helpdesk@other.example\n"
                               b"X-Loop: Support <SUPPORT@example.test>\nSubject:")
    foreign = mail("ann@example.net", "Broken", "It broke.", "a1@x.example", NOW).replace(
        b"Subject:", b"X-Loop: helpdesk@other.example\nSubject:")
    _arrive(services, [looped, foreign])
    _send(services)
    assert _to(smtp_sink, "robot@example.net") == []
    assert len(_to(smtp_sink, "ann@example.net")) == 1
    assert _reasons(services) == ["X-Loop names our address"]
    assert len(smtp_sink.messages) == 5  # one acknowledgment, two notifications, two escalations
    assert {m.message["X-Loop"] for m in smtp_sink.messages} == {"support@example.test"}


@pytest.mark.parametrize(("text", "message"), [
    ("[floods]\nteam_mails_per_hour = -1\n", "bad value for 'floods.team_mails_per_hour'"),
    ("[floods]\nacknowledgements_per_hour = 5\n", "unknown key 'floods.acknowledgements_per_hour'"),
])
def test_a_bad_flood_cap_names_the_file_and_the_key(tmp_path: Path, text: str,
                                                     message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_the_shipped_config_documents_the_caps() -> None:
    floods = config.load(config.DEFAULT_CONFIG).floods
    assert floods == FloodsConfig()  # config.toml states the defaults it documents
    assert casework.sender_key("A.N.N+shop@GoogleMail.com", floods) == "ann@gmail.com"
    assert casework.sender_key("a.n.n+shop@example.test", floods) == "a.n.n@example.test"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # templates only: one backend
def test_an_own_templates_folder_without_the_digest_still_gets_one(
        db_url: str, tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "templates"
    shutil.copytree(config.REPO_ROOT / "templates", own)
    (own / "digest.txt").unlink()  # copied before the digest existed
    services = _services(db_url, tmp_path, smtp_sink, templates=str(own),
                         floods={"team_mails_per_hour": 1})
    use_triage(monkeypatch, fixed_triage("billing", "low"))
    _arrive(services, [mail(f"c{n}@example.net", "Broken", "It broke.", f"o{n}@x.example", NOW)
                       for n in range(3)])
    services.clock.now = NOW + timedelta(minutes=61)  # type: ignore[attr-defined]  # a Clock
    _send(services)
    assert [_kind(m) for m in _to(smtp_sink, TEAM)] == ["team_notification", "digest"]
