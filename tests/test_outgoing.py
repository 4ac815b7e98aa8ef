"""Acknowledgments, threading and loop protection against Dovecot and a real SMTP sink."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from email import message_from_bytes
from email.charset import QP, Charset
from email.header import decode_header, make_header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import parseaddr

from sqlalchemy import func, select

from ingestd import casework
from ingestd.mailout import Composer, compose
from storage import Case, CaseMessage, Outbox, RawMessage, Suppression
from tests.support import (
    REPO,
    ConfigSpec,
    Ingestd,
    MailboxSpec,
    complaint,
    mail,
    run_cli,
    write_config,
)

_VIEW = {"status": "new", "customer_name": "Ann Example", "customer_address": "a@example.net",
         "description": "The kettle leaks.", "category": "product_quality", "severity": "low",
         "escalation_level": 0, "reasons": [], "order_numbers": ["4711"], "flags": [],
         "received_at": "Monday", "acknowledge_due": "Tuesday", "investigate_due": "Friday",
         "resolve_due": "next month"}


def _setup(tmp_path, dovecot, smtp_sink, db_url=None, *, extra=""):
    account = dovecot.new_user()
    url = db_url or f"sqlite:///{tmp_path}/db.sqlite3"
    spec = ConfigSpec(url, [MailboxSpec(account)], smtp_port=smtp_sink.port, extra=extra)
    app = Ingestd(write_config(tmp_path, spec))
    return account, app


def _acks(sink, to=None):
    return [m for m in sink.messages if m.message["Auto-Submitted"] == "auto-replied"
            and (to is None or to in m.rcpt_tos)]


def _case_of(app, address):
    with app.services.factory() as session:
        return session.scalars(select(Case).where(Case.customer_address == address)).all()


def test_new_complaint_gets_exactly_one_acknowledgment_with_the_right_headers(
        db_url, tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink, db_url)
    original = complaint(1, message_id="<c1@customer.example>")
    dovecot.append(account, [original])
    app.run_once()
    app.run_once()

    acks = _acks(smtp_sink)
    assert len(acks) == 1
    ack = acks[0].message
    (case,) = _case_of(app, "customer1@example.net")
    assert f"[{case.reference}]" in ack["Subject"]
    assert acks[0].rcpt_tos == ("customer1@example.net",)
    assert ack["In-Reply-To"] == "<c1@customer.example>"
    assert "<c1@customer.example>" in ack["References"]
    assert ack["Message-ID"].startswith(f"<{case.reference}.")
    assert parseaddr(ack["From"])[1] == "support@example.test"
    assert ack["Date"]
    assert case.reference in ack.get_payload(decode=True).decode() if not ack.is_multipart() \
        else case.reference in ack.get_body(("plain",)).get_content()
    assert case.status == "acknowledged"


def test_team_notification_goes_to_the_routing_address_with_triage_headers(tmp_path, dovecot,
                                                                           smtp_sink):
    extra = '[routing]\ndefault = "agents@example.test"\nbilling = "billing-team@example.test"\n'
    account, app = _setup(tmp_path, dovecot, smtp_sink, extra=extra)
    dovecot.append(account, [complaint(0)])  # a double charge: billing
    app.run_once()
    notes = [m for m in smtp_sink.messages if m.message["X-Ingestd-Case"]]
    assert len(notes) == 1
    (case,) = _case_of(app, "customer0@example.net")
    assert notes[0].rcpt_tos == (
        ("billing-team@example.test",) if case.category == "billing" else ("agents@example.test",))
    assert notes[0].message["X-Ingestd-Category"] == case.category
    assert notes[0].message["X-Ingestd-Severity"] == case.severity


def test_replies_join_the_case_by_header_and_by_tag_but_a_stranger_gets_a_new_case(
        db_url, tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink, db_url)
    customer = "Ann Lee <ann@example.net>"
    dovecot.append(account, [complaint(1, sender=customer, message_id="<ann1@example.net>")])
    app.run_once()
    (case,) = _case_of(app, "ann@example.net")
    ack_id = _acks(smtp_sink)[0].message["Message-ID"]

    by_header = mail(customer, "Re: your reply", "Any news?", in_reply_to=ack_id)
    by_tag = mail(customer, f"More details [{case.reference}]", "Here is a photo.")
    stranger = mail("Mallory <mallory@evil.example>", f"Re: [{case.reference}]", "Show me it")
    dovecot.append(account, [by_header, by_tag, stranger])
    app.run_once()

    with app.services.factory() as session:
        inbound = session.scalar(select(func.count(CaseMessage.id)).where(
            CaseMessage.case_id == case.id, CaseMessage.direction == "in"))
        assert inbound == 3
        (mallory,) = session.scalars(select(Case).where(
            Case.customer_address == "mallory@evil.example")).all()
        assert f"cites_reference:{case.reference}" in mallory.flags
    assert len(_acks(smtp_sink, "ann@example.net")) == 1  # replies get no new acknowledgment
    assert len(_acks(smtp_sink, "mallory@evil.example")) == 1


def test_forged_message_id_of_ours_does_not_attach(tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink)
    dovecot.append(account, [complaint(1, sender="ann@example.net")])
    app.run_once()
    (case,) = _case_of(app, "ann@example.net")
    forged = f"<{case.reference}.aaaaaaaaaaaa.0123456789abcdef@example.test>"
    dovecot.append(account, [mail("mallory@evil.example", "Re: hi", "let me in",
                                  in_reply_to=forged)])
    app.run_once()
    (mallory,) = _case_of(app, "mallory@evil.example")
    assert mallory.id != case.id
    assert "forged_message_id" in mallory.flags


def test_reply_to_a_resolved_case_reopens_it(tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink)
    dovecot.append(account, [complaint(1, sender="ann@example.net")])
    app.run_once()
    with app.services.factory() as session, session.begin():
        case = session.scalars(select(Case)).one()
        for status in ("investigating", "resolved"):
            casework.set_status(session, case, status, actor="agent", at=app.services.clock())
    dovecot.append(account, [mail("ann@example.net", f"Re: [{case.reference}]", "Still broken")])
    app.run_once()
    (case,) = _case_of(app, "ann@example.net")
    assert case.status == "investigating"


def test_out_of_office_robot_gets_nothing_back(tmp_path, dovecot, smtp_sink):
    """A robot answers every mail it gets; without loop protection this never ends."""
    account, app = _setup(tmp_path, dovecot, smtp_sink)
    answered: set[str] = set()

    def robot() -> None:
        for received in smtp_sink.messages:
            msg = received.message
            if msg["Message-ID"] in answered or "robot@example.net" not in received.rcpt_tos:
                continue
            answered.add(msg["Message-ID"])
            dovecot.append(account, [mail("Robot <robot@example.net>", "Out of office: "
                                          + msg["Subject"], "I am away until Monday.",
                                          in_reply_to=msg["Message-ID"],
                                          headers={"Auto-Submitted": "auto-replied"})])

    dovecot.append(account, [complaint(1, sender="Robot <robot@example.net>")])
    for _ in range(5):
        app.run_once()
        robot()

    assert len(answered) == 1  # our one acknowledgment, answered once by the robot
    assert len(_acks(smtp_sink, "robot@example.net")) == 1
    (case,) = _case_of(app, "robot@example.net")
    with app.services.factory() as session:
        assert session.scalar(select(func.count(CaseMessage.id)).where(
            CaseMessage.case_id == case.id, CaseMessage.direction == "in")) == 2


def test_robot_and_list_mail_is_never_acknowledged_and_the_reason_is_recorded(
        tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink)
    robots = {
        "auto@example.net": {"Auto-Submitted": "auto-generated"},
        "bulk@example.net": {"Precedence": "bulk"},
        "list@example.net": {"List-Id": "<deals.example.net>"},
        "suppress@example.net": {"X-Auto-Response-Suppress": "All"},
        "noreturn@example.net": {"Return-Path": "<>"},
    }
    dovecot.append(account, [mail(sender, "Hello", "Text", headers=headers)
                             for sender, headers in robots.items()]
                   + [mail(account.address, "Hello", "from ourselves"),
                      mail("postmaster@example.net", "Undeliverable", "bounce")])
    app.run_once()
    assert _acks(smtp_sink) == []
    with app.services.factory() as session:
        reasons = dict(session.execute(select(Suppression.sender, Suppression.reason)).all())
    assert reasons["auto@example.net"] == "Auto-Submitted: auto-generated"
    assert reasons["bulk@example.net"] == "Precedence: bulk"
    assert reasons["list@example.net"] == "mailing list"
    assert reasons["suppress@example.net"] == "X-Auto-Response-Suppress"
    assert reasons["noreturn@example.net"] == "empty return path"
    assert reasons[account.address] == "our own address"


def test_acknowledgments_per_sender_are_rate_limited(tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink,
                          extra="[cases]\nacknowledgments_per_sender_per_hour = 2\n")
    dovecot.append(account, [complaint(n, sender="busy@example.net") for n in range(4)])
    app.run_once()
    assert len(_acks(smtp_sink, "busy@example.net")) == 2
    with app.services.factory() as session:
        reasons = session.scalars(select(Suppression.reason)).all()
    assert reasons == ["rate limit: 2 acknowledgments per hour"] * 2


def test_bounce_of_our_acknowledgment_is_matched_to_its_outbox_row(tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink)
    dovecot.append(account, [complaint(1, sender="gone@example.net")])
    app.run_once()
    ack_id = _acks(smtp_sink)[0].message["Message-ID"]
    dsn = (b"From: MAILER-DAEMON@mx.example.net\r\nTo: support@example.test\r\n"
           b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.net>\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nUser unknown\r\n"
           b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: " + ack_id.encode()
           + b"\r\n--b--\r\n")
    dovecot.append(account, [dsn])
    app.run_once()
    with app.services.factory() as session:
        row = session.scalars(select(Outbox).where(Outbox.message_id == ack_id.strip("<>"))).one()
        assert row.bounced_at is not None
        assert session.scalar(select(func.count(Case.id))) == 1  # no case for the bounce


def test_smtp_down_then_up_delivers_each_acknowledgment_once(tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink)
    dovecot.append(account, [complaint(n) for n in range(5)])
    smtp_sink.stop()
    app.drain()
    first = app.send()
    assert first.sent == 0 and first.retried > 0
    smtp_sink.start()
    smtp_sink.refuse_next(2)  # and two temporary refusals on the way back
    for _ in range(10):
        app.send()
    acks = _acks(smtp_sink)
    expected = sorted(f"customer{n}@example.net" for n in range(5))
    assert sorted(a.rcpt_tos[0] for a in acks) == expected
    with app.services.factory() as session:
        assert set(session.scalars(select(Outbox.state))) == {"sent"}


def test_non_ascii_name_and_subject_round_trip(tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink)
    subject = "Lieferung beschädigt \u2013 Bestellung Nr. 4711 \u2713"  # en dash, check mark
    dovecot.append(account, [mail("Jürgen Müller <jm@example.de>", subject, "Karton zerdrückt.")])
    app.run_once()
    (case,) = _case_of(app, "jm@example.de")
    assert case.subject == subject
    assert case.customer_name == "Jürgen Müller"
    (ack,) = _acks(smtp_sink)
    decoded = str(make_header(decode_header(ack.message["Subject"])))
    assert subject in decoded and f"[{case.reference}]" in decoded


def test_one_mail_to_two_support_addresses_is_one_case(tmp_path, dovecot, smtp_sink):
    first, second = dovecot.new_user("sales"), dovecot.new_user("help")
    spec = ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3",
                      [MailboxSpec(first, name="sales"), MailboxSpec(second, name="help")],
                      smtp_port=smtp_sink.port)
    app = Ingestd(write_config(tmp_path, spec))
    both = complaint(3, to=first.address, cc=second.address)
    dovecot.append(first, [both])
    dovecot.append(second, [both])
    app.run_once()
    assert len(_case_of(app, "customer3@example.net")) == 1
    assert len(_acks(smtp_sink)) == 1


def test_concurrent_senders_never_send_a_row_twice(tmp_path, dovecot, smtp_sink, fresh_pg_url):
    """Three senders on one PostgreSQL outbox share the rows (SKIP LOCKED)."""
    account, app = _setup(tmp_path, dovecot, smtp_sink, fresh_pg_url)
    dovecot.append(account, [complaint(n) for n in range(30)])
    app.drain()
    threads = [threading.Thread(target=app.send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    acks = _acks(smtp_sink)
    assert len(acks) == 30
    assert len({a.message["Message-ID"] for a in acks}) == 30


def test_two_hundred_complaints_and_a_hundred_replies(tmp_path, dovecot, smtp_sink):
    """The acceptance run: 200 cases, 200 acknowledgments, 300 case messages, 0 robot answers."""
    account, app = _setup(tmp_path, dovecot, smtp_sink)
    dovecot.append(account, [complaint(n, message_id=f"<c{n}@customer.example>")
                             for n in range(200)])
    app.run_once()
    acks = {a.rcpt_tos[0]: a.message for a in _acks(smtp_sink)}
    with app.services.factory() as session:
        references = dict(session.execute(select(Case.customer_address, Case.reference)).all())

    replies = [mail(f"customer{n}@example.net", "Re: my complaint", "Any news?",
                    in_reply_to=acks[f"customer{n}@example.net"]["Message-ID"])
               for n in range(50)]
    replies += [mail(f"customer{n}@example.net",
                     f"More details [{references[f'customer{n}@example.net']}]", "Photo attached")
                for n in range(50, 100)]
    robots = [mail(f"customer{n}@example.net", "Automatic reply: away", "Back on Monday",
                   in_reply_to=acks[f"customer{n}@example.net"]["Message-ID"],
                   headers={"Auto-Submitted": "auto-replied"}) for n in range(100, 120)]
    dovecot.append(account, replies + robots)
    app.run_once()

    with app.services.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 200
        inbound = session.scalar(select(func.count(CaseMessage.id)).where(
            CaseMessage.direction == "in"))
    assert inbound == 320  # 200 complaints, 100 replies, and the 20 auto-replies on their cases
    acknowledged = [a.rcpt_tos[0] for a in _acks(smtp_sink)]
    assert len(acknowledged) == len(set(acknowledged)) == 200  # none to a reply or a robot


def test_reply_long_after_closing_opens_a_new_linked_case(tmp_path, dovecot, smtp_sink):
    account, app = _setup(tmp_path, dovecot, smtp_sink,
                          extra="[cases]\nreopen_window_days = 30\n")
    dovecot.append(account, [complaint(1, sender="ann@example.net")])
    app.run_once()
    with app.services.factory() as session, session.begin():
        old = session.scalars(select(Case)).one()
        for status in ("investigating", "resolved", "closed"):
            casework.set_status(session, old, status, actor="agent", at=app.services.clock())
    ack_id = _acks(smtp_sink)[0].message["Message-ID"]

    later = app.services.clock() + timedelta(days=31)
    app.services.clock = lambda: later
    dovecot.append(account, [mail("ann@example.net", f"Re: [{old.reference}]", "It broke again",
                                  in_reply_to=ack_id)])
    app.run_once()

    cases = _case_of(app, "ann@example.net")
    assert len(cases) == 2
    new = next(c for c in cases if c.id != old.id)
    assert new.linked_case_id == old.id
    assert f"follows_closed_case:{old.reference}" in new.flags
    assert next(c for c in cases if c.id == old.id).status == "closed"
    assert len(_acks(smtp_sink, "ann@example.net")) == 2  # the new case is acknowledged


def test_composed_mail_keeps_header_lines_short_and_parses_back_whole():
    """Short ASCII headers are written as they are; long or non-ASCII ones are folded and
    encoded, and both alternatives of the acknowledgment read back as rendered."""
    composer = Composer(REPO / "templates", "Customer Support <support@example.test>", "key")
    long_ascii = "My order 4711 arrived broken and nobody answers the phone " * 3
    for subject in ("Broken kettle", long_ascii.strip(), "Lieferung beschädigt \u2013 " * 6):
        view = {**_VIEW, "subject": subject}
        draft = composer.compose("acknowledgment", "a@example.net", "CMP-2026-000042", view,
                                 in_reply_to="x@customer.example")
        assert all(len(line) <= 78 for line in draft.raw.split(b"\r\n" if b"\r\n" in draft.raw
                                                                 else b"\n"))
        parsed = message_from_bytes(draft.raw)
        decoded = " ".join(str(make_header(decode_header(parsed["Subject"]))).split())
        assert decoded == f"We have received your complaint: {' '.join(subject.split())} " \
                          "[CMP-2026-000042]"
        plain, html = (part.get_payload(decode=True).decode() for part in parsed.get_payload())
        assert draft.text.strip() == plain.strip()
        assert "CMP-2026-000042" in html and parsed["In-Reply-To"] == "<x@customer.example>"


def _as_the_email_package_writes_it(fields, text, html, boundary):
    """The same mail built with the email package's compat32 classes and generator."""
    utf8 = Charset("utf-8")
    utf8.body_encoding = QP

    def part(subtype, body):
        made = MIMENonMultipart("text", subtype)
        made.set_payload(body, utf8)
        return made

    msg = part("plain", text)
    if html is not None:
        msg = MIMEMultipart("alternative", boundary=boundary)
        msg.attach(part("plain", text))
        msg.attach(part("html", html))
    for name, value in fields:
        msg[name] = value
    return msg.as_bytes(policy=compose._POLICY)


def test_composed_bytes_are_what_the_email_package_would_write():
    """Mail is put together without the email package's message objects: byte for byte
    what they would give, for plain and alternative mail, folded, encoded and odd text."""
    long_subject = "My order 4711 arrived broken and nobody answers the phone " * 3
    fields = [("From", "Customer Support <support@example.test>"), ("To", "a@example.net"),
              ("Subject", long_subject.strip()), ("Message-ID", "<CMP-1.ab.cd@example.test>"),
              ("X-Ingestd-Case", compose._encoded("Lieferung beschädigt \u2013 " * 6))]
    texts = ["", "Dear Ann,\n\nthank you.\n", "a=b trailing space \nend", "x" * 200,
             "Grüße, ✓ Åse… \u2028line\r\nCRLF\rCR\n\nFrom the start\n.\n", "no newline"]
    for text in texts:
        for html in (None, f"<p>{text}</p>", ""):
            for head in (fields, fields[:2]):
                expected = _as_the_email_package_writes_it(head, text, html, "=_0123abcd")
                assert compose._mime(head, text, html, "=_0123abcd") == expected, (text, html)


def test_headers_are_folded_as_the_email_package_folds_them():
    rng = random.Random(18)  # noqa: S311  (test data, not crypto)
    for n in range(3000):
        alphabet = "abcdefghij:=?-_#[]." + ("" if n % 2 else ",; \tä")
        words = ["".join(rng.choice(alphabet) for _ in range(rng.choice((1, 3, 8, 20, 90))))
                 for _ in range(rng.randint(1, 30))]
        value = rng.choice((" ", " ", "  ")).join(words)
        name = rng.choice(("Subject", "X-Ingestd-Category", "To"))
        assert compose._POLICY.fold_binary(name, value) == \
            Compat32().fold_binary(name, value), (name, value)


def test_run_once_acknowledges_each_batch_while_the_backlog_is_still_processed(tmp_path,
                                                                               dovecot):
    """A backlog's first customers hear back before the last mail of it is processed."""
    account = dovecot.new_user("backlog")
    dovecot.append(account, [complaint(n) for n in range(450)])  # three pipeline batches
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'db.sqlite3'}",
                                               [MailboxSpec(account)]))
    assert run_cli(config, "db", "upgrade").returncode == 0
    done = run_cli(config, "run", "--once", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    app = Ingestd(config)
    with app.services.factory() as session:
        first_ack = session.scalar(select(func.min(Outbox.sent_at))
                                   .where(Outbox.kind.like("acknowledgment%")))
        last_processed = session.scalar(select(func.max(RawMessage.processed_at)))
        unsent = session.scalar(select(func.count(Outbox.id)).where(  # (held: over a flood
            Outbox.state.in_(("pending", "failed"))))                    # cap, for the digest)
    assert first_ack is not None and last_processed is not None
    assert first_ack < last_processed
    assert unsent == 0
    assert len(list((tmp_path / "outbox").glob("*.eml"))) >= 450
