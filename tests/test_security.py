"""Security: verified TLS both ways, no injection from mail content, no forged threading,
no secrets in logs. Real Dovecot, a real aiosmtpd (plain and implicit TLS), no mocks."""

from __future__ import annotations

import secrets
import ssl
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage import Case, CaseMessage, Outbox, Quarantine
from tests.servers import SmtpSink, free_port
from tests.support import ConfigSpec, Ingestd, MailboxSpec, complaint, mail, run_cli, write_config

# ---------------------------------------------------------------- TLS verified by default


def test_starttls_with_an_untrusted_certificate_fails_with_a_clear_line(tmp_path, dovecot_tls):
    account = dovecot_tls.new_user()
    bare = type(account)(account.host, account.port, account.username, account.password,
                         account.ssl_port, None)  # no tls_ca_file: only the system's CAs
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'db.sqlite3'}",
                                               [MailboxSpec(bare, security="starttls")]))
    run_cli(config, "db", "upgrade")
    done = run_cli(config, "run", "--once")
    assert done.returncode == 69
    assert "TLS certificate not trusted" in done.stderr and "tls_ca_file" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def smtp_tls_sink(dovecot_tls):
    """An aiosmtpd sink speaking implicit TLS with the test CA's certificate."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415  (as tests/servers.py does)

    tls = dovecot_tls.tls
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port, ssl_context=context)
    controller.start()
    sink._controller = controller
    try:
        yield sink
    finally:
        sink.stop()


def _smtp_tls_config(tmp_path: Path, port: int, ca_file: str | None) -> Path:
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'db.sqlite3'}",
                                               smtp_port=port))
    text = config.read_text().replace('security = "none"', 'security = "tls"')
    if ca_file:
        text = text.replace('mode = "smtp"', f'mode = "smtp"\ntls_ca_file = "{ca_file}"')
    config.write_text(text)
    return config


@pytest.mark.parametrize("trusted", [False, True])
def test_smtp_over_tls_verifies_the_server_certificate(tmp_path, dovecot_tls, smtp_tls_sink,
                                                       trusted):
    config = _smtp_tls_config(tmp_path, smtp_tls_sink.port,
                              dovecot_tls.ca_file if trusted else None)
    run_cli(config, "db", "upgrade")
    maildir = tmp_path / "Maildir"
    (maildir / "new").mkdir(parents=True)
    (maildir / "cur").mkdir()
    (maildir / "new" / "1.eml").write_bytes(complaint(1))
    config.write_text(config.read_text() + f'[[maildir]]\nname = "local"\n'
                      f'address = "support@example.test"\npath = "{maildir}"\n')
    app = Ingestd(config)
    app.run_once()
    with app.services.factory() as session:
        rows = list(session.scalars(select(Outbox)))
    assert rows
    if trusted:
        assert all(row.state == "sent" for row in rows)
        assert len(smtp_tls_sink.messages) == len(rows)
    else:
        assert smtp_tls_sink.messages == []
        assert all(row.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in (row.last_error or "")
                   for row in rows), [(r.state, r.last_error) for r in rows]


# ---------------------------------------------------------------- injection from mail content

PWNED = Path("/tmp") / f"ingestd-pwned-{secrets.token_hex(4)}"  # must never appear
NASTY = [
    ("Jinja <jinja@nasty.example>", "{{ 7*7 }} and {{ config }}"),
    ('"{% raw %}{{ 7*7 }}" <raw@nasty.example>', "{% for x in range(9999999) %}x{% endfor %}"),
    ("Shell <shell@nasty.example>", f"$(touch {PWNED}) `touch {PWNED}` ; rm -rf /"),
    ("=?utf-8?B?RXZpbA0KQmNjOiB2aWN0aW1AZXZpbC5leGFtcGxl?= <crlf@nasty.example>",
     "=?utf-8?Q?hello=0D=0ABcc:_victim@evil.example=0D=0A=0D=0Abody?="),
]


def _raw_mail(sender: str, subject: str) -> bytes:
    """Headers written as an attacker would: no library in between to clean them."""
    return (f"From: {sender}\r\nTo: support@example.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{secrets.token_hex(6)}@nasty.example>\r\n\r\n"
            "My order never arrived.\r\n").encode()


def test_mail_content_is_printed_never_evaluated_and_adds_no_header(tmp_path, dovecot, smtp_sink):
    account = dovecot.new_user()
    app = Ingestd(write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'db.sqlite3'}",
                                                    [MailboxSpec(account)],
                                                    smtp_port=smtp_sink.port)))
    dovecot.append(account, [_raw_mail(sender, subject) for sender, subject in NASTY])
    app.run_once()

    acks = {m.rcpt_tos[0]: m for m in smtp_sink.messages
            if m.message["Auto-Submitted"] == "auto-replied"}
    assert set(acks) == {"jinja@nasty.example", "raw@nasty.example", "shell@nasty.example",
                         "crlf@nasty.example"}
    jinja = acks["jinja@nasty.example"]
    subject = str(jinja.message["Subject"])
    assert "{{ 7*7 }}" in subject and "49" not in subject
    raw_name = acks["raw@nasty.example"].message.get_body(("plain",)).get_content()
    assert "{% raw %}{{ 7*7 }}" in raw_name  # the name, literally
    assert "{% for x" in str(acks["raw@nasty.example"].message["Subject"])
    assert not PWNED.exists()
    for received in smtp_sink.messages:
        assert received.message["Bcc"] is None and "victim@evil.example" not in received.rcpt_tos
        header_names = {name.lower() for name in received.message}
        assert "bcc" not in header_names
    crlf = acks["crlf@nasty.example"].message
    assert "Bcc: victim@evil.example" in str(crlf["Subject"]).replace("\n", " ") or \
        "victim@evil.example" in str(crlf["Subject"])  # kept as text inside the subject


# ---------------------------------------------------------------- forged threading


def test_forged_threading_never_reaches_another_customers_case(tmp_path, dovecot, smtp_sink):
    account = dovecot.new_user()
    app = Ingestd(write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'db.sqlite3'}",
                                                    [MailboxSpec(account)],
                                                    smtp_port=smtp_sink.port)))
    ann = "Ann Lee <ann@example.net>"
    dovecot.append(account, [complaint(1, sender=ann, message_id="<ann-1@example.net>")])
    app.run_once()
    with app.services.factory() as session:
        (case,) = session.scalars(select(Case))
    tag = f"[{case.reference}]"
    attacks = [
        # a stranger quoting Ann's own Message-ID (not one of ours) and her reference
        mail("Mallory <mallory1@evil.example>", f"Re: {tag}", "me too",
             in_reply_to="<ann-1@example.net>"),
        # Ann's address hidden in an encoded display name, the real address is Mallory's
        _raw_mail("=?utf-8?B?QW5uIExlZSA8YW5uQGV4YW1wbGUubmV0Pg==?= <mallory2@evil.example>",
                  f"Re: {tag}"),
        # the same with the address in clear inside the encoded word: still one name
        _raw_mail("=?utf-8?Q?Ann_<ann@example.net>?= <mallory3@evil.example>", f"Re: {tag}"),
        # two angle addresses in clear (Python's lenient parseaddr picks the first: Ann's)
        _raw_mail("Ann Lee <ann@example.net> <mallory5@evil.example>", f"Re: {tag}"),
        # References naming Ann's mail far back, In-Reply-To a made-up id of ours
        mail("mallory4@evil.example", "Re: complaint", "hello",
             in_reply_to=f"<{case.reference}.000000000000.0000000000000000@example.test>",
             references="<ann-1@example.net>"),
    ]
    dovecot.append(account, attacks)
    app.run_once()

    with app.services.factory() as session:
        senders = set(session.scalars(select(CaseMessage.sender).where(
            CaseMessage.case_id == case.id, CaseMessage.direction == "in")))
        others = list(session.scalars(select(Case).where(Case.id != case.id)))
    assert senders == {"ann@example.net"}, "a stranger's mail landed in Ann's case"
    assert {c.customer_address for c in others} >= {"mallory1@evil.example",
                                                    "mallory2@evil.example",
                                                    "mallory3@evil.example",
                                                    "mallory4@evil.example"}
    assert all(c.flags for c in others)  # each one flagged as citing Ann's case
    with app.services.factory() as session:
        quarantined = session.scalar(select(func.count(Quarantine.id)))
    assert quarantined == 1  # the ambiguous From header: kept, with "no sender address"
    acks_to_ann = [m for m in smtp_sink.messages if "ann@example.net" in m.rcpt_tos]
    assert len(acks_to_ann) == 1  # nothing about the attacks went to Ann


# ---------------------------------------------------------------- secrets never in logs


def test_passwords_never_appear_in_logs_even_at_debug_level(tmp_path, dovecot):
    imap_secret = f"imap-{secrets.token_hex(8)}"
    account = dovecot.new_user(password=imap_secret)
    dovecot.append(account, [complaint(1), complaint(2)])
    sink = SmtpSink(auth_required=True)
    sink.password = f"smtp-{secrets.token_hex(8)}"
    sink.start()
    try:
        config = write_config(tmp_path, ConfigSpec(
            f"sqlite:///{tmp_path / 'db.sqlite3'}", [MailboxSpec(account)], smtp_port=sink.port,
            extra='[logging]\nlevel = "debug"\nformat = "json"\n'))
        text = config.read_text().replace(
            'mode = "smtp"', f'mode = "smtp"\nusername = "{sink.username}"\n'
                             f'password = "{sink.password}"')
        config.write_text(text)
        run_cli(config, "db", "upgrade")
        good = run_cli(config, "run", "--once")
        assert good.returncode == 0, good.stderr
        assert len(sink.messages) == 4
        # and when the servers refuse them
        config.write_text(text.replace(imap_secret, imap_secret + "x")
                          .replace(sink.password, sink.password + "x"))
        dovecot.append(account, [complaint(3)])
        bad = run_cli(config, "run", "--once")
    finally:
        sink.stop()
    assert bad.returncode == 77 and "refused the login" in bad.stderr
    for output in (good.stdout, good.stderr, bad.stdout, bad.stderr):
        assert imap_secret not in output and sink.password not in output
