"""After `privacy erase` nothing of the person is left: not in any table (listed from the
schema, so a table added later is searched too), not in any file ingestd wrote, not even
inside a base64 or quoted-printable body. Export gives a person only what is theirs."""

from __future__ import annotations

import base64
import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingestd import casework
from ingestd.privacy import export
from ingestd.services import Services
from storage import Base, Case, Outbox, Quarantine
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
ANN, NAME = "ann@example.test", "Ann Example"
BO = "bo@example.test"


def _needles() -> list[bytes]:
    """Ann as bytes: plain, quoted-printable, and base64 in each of its three alignments."""
    address = ANN.encode()
    found = [address, NAME.lower().encode(), b"ann=40example.test"]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + address)
        found.append(encoded[(0, 2, 3)[offset]:-4].lower())
    return found


def _readable(raw: bytes) -> str:
    """The mail as a reader sees it (decoded headers and bodies), by the standard library."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    pieces: list[str] = []
    for part in msg.walk():
        pieces += [str(value) for value in part.values()]
        payload = None if part.is_multipart() else part.get_payload(decode=True)
        if isinstance(payload, bytes):
            pieces.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(pieces)


def _names_ann(value: Any) -> bool:
    if value is None or isinstance(value, (int, float, datetime)):
        return False
    if isinstance(value, bytes):
        lowered = value.lower()
        if any(needle in lowered for needle in _needles()):
            return True
        readable = _readable(value).lower()
        return ANN in readable or NAME.lower() in readable
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
    return ANN in text.lower() or NAME.lower() in text.lower()


def _where_ann_is(services: Services, root: Path) -> set[str]:
    """Every table.column and every file under `root` that still names Ann."""
    found = set()
    with services.factory() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                found |= {f"{table.name}.{column}" for column, value in row.items()
                          if _names_ann(value)}
    found |= {f"file {path.relative_to(root)}" for path in root.rglob("*")
              if path.is_file() and _names_ann(path.read_bytes())}
    return found


def _encoded_mail(encoding: str, body: bytes, message_id: str) -> bytes:
    """A mail without any sender (so it is quarantined) that names Ann only in its body."""
    return (f"To: support@example.test\nSubject: passed on\nMessage-ID: <{message_id}>\n"
            f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            f"Content-Transfer-Encoding: {encoding}\n\n").encode() + body


def _bounce(of_message_id: str) -> bytes:
    return (b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\nTo: support@example.test\n"
            b"Subject: Undelivered Mail Returned to Sender: ann@example.test\n"
            b"Message-ID: <bounce1@mx.example>\nMIME-Version: 1.0\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
            b"--b\nContent-Type: text/plain\n\nCould not deliver to <ann@example.test>.\n"
            b"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <"
            + of_message_id.encode() + b">\n--b--\n")


@pytest.fixture
def everywhere(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    """Ann's own case, Bo's case she is copied on and writes into, Carol's that names her,
    two quarantined mails naming her only in encoded bodies, a bounce of her acknowledgment,
    a flood digest and the outbox folder the sender wrote all of it to."""
    clock = Clock(NOW)
    services = make_services(db_url, tmp_path, clock, floods={"team_mails_per_hour": 2})
    use_triage(monkeypatch, fixed_triage("billing", "critical"))
    receive(services, mail(ANN, "Charged twice", "Please refund me. Ann Example", "a1@a.example",
                           NOW))
    bo = mail(BO, "Late parcel", "My neighbour Ann Example (ann@example.test) waits too.",
              "b1@b.example", NOW, name="Bo Other").replace(
        b"Subject:", b"Cc: Ann Example <ann@example.test>\nSubject:")
    receive(services, bo)
    receive(services, mail(ANN, "Re: Late parcel [CMP-2026-000002]", "Mine is order 555.",
                           "a2@a.example", NOW))
    receive(services, mail("carol@example.test", "Same as Ann Example",
                           "Ask ANN@Example.test about it.", "c1@c.example", NOW, name="Carol"))
    receive(services, _encoded_mail("base64", base64.encodebytes(
        b"Please pass this on to Ann Example, ann@example.test."), "q1@x.example"))
    receive(services, _encoded_mail("quoted-printable",
                                    b"Write to ann=40exam=\nple.test at once=\n please.",
                                    "q2@x.example"))
    casework.build_sender(services).deliver_pending()
    with services.factory() as session:
        ack = session.scalars(select(Outbox.message_id).where(
            Outbox.recipient == ANN, Outbox.kind.like("acknowledgment%"))).first()
    assert ack is not None
    receive(services, _bounce(ack))
    clock.now = NOW + timedelta(minutes=61)  # Carol's notification waited for the digest
    casework.build_sender(services).deliver_pending()
    return services


def test_erase_leaves_nothing_of_the_person_in_any_table_or_file(
        everywhere: Services, db_url: str, tmp_path: Path) -> None:
    before = _where_ann_is(everywhere, tmp_path)
    assert {"outbox.raw", "outbox.last_error", "raw_message.raw", "case.subject",
            "case_message.text", "participant.address"} <= before
    assert len([place for place in before if place.startswith("file outbox/")]) >= 6
    with everywhere.factory() as session:
        quarantined = session.scalars(select(Quarantine.raw_message_id)).all()
        raws = {r["id"] for r in export(session, ANN)["raw_messages"]}
    assert len(quarantined) == 2 and set(quarantined) <= raws  # found in their decoded text

    run_cli(write_config(tmp_path, db_url), "privacy", "erase", ANN, "--yes")

    assert _where_ann_is(everywhere, tmp_path) == set()
    with everywhere.factory() as session:
        bo = session.scalars(select(Case).where(Case.reference == "CMP-2026-000002")).one()
        assert (bo.customer_address, bo.category) == (BO, "billing")
        assert bo.description == "My neighbour [erased] ([erased]) waits too."
        assert [m.text for m in bo.messages if m.direction == "in"] == [bo.description, ""]
    assert (tmp_path / "outbox").is_dir() and any((tmp_path / "outbox").iterdir())


def test_export_of_someone_copied_on_a_complaint_has_only_what_is_theirs(
        everywhere: Services) -> None:
    with everywhere.factory() as session:
        data = export(session, ANN)
        dee = export(session, "dee@example.test")
    assert [c["reference"] for c in data["cases"]] == ["CMP-2026-000001"]
    [taking_part] = data["cases_taken_part_in"]
    assert taking_part == {"reference": "CMP-2026-000002", "role": "cc", "messages": [
        {"sent_at": NOW.isoformat(), "subject": "Re: Late parcel [CMP-2026-000002]",
         "text": "Mine is order 555."}]}
    texts = " ".join(r["text"] for r in data["raw_messages"])
    assert "bo@example.test" not in texts and "b1@b.example" not in texts  # not Bo's mail
    assert "pass this on" in " ".join(r["readable_text"] for r in data["raw_messages"])
    assert dee == {"address": "dee@example.test", "cases": [], "cases_taken_part_in": [],
                   "raw_messages": [], "mail_sent": []}
