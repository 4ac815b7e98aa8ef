"""Transport security and outgoing defaults: no password in clear to another machine,
[smtp] with a host sends over STARTTLS, one clear line for a malformed database URL.
Real Dovecot (with TLS), real aiosmtpd, no mocks."""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select

from ingestd import config
from ingestd.errors import ConfigError
from storage import Outbox
from tests.proxy import FaultyProxy
from tests.servers import SmtpSink, free_port
from tests.support import (
    REPO,
    ConfigSpec,
    Ingestd,
    MailboxSpec,
    complaint,
    run_cli,
    write_config,
)


def lan_address() -> str:
    """An address of this machine that is not loopback: what a remote server looks like."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
        except OSError:
            address = socket.gethostbyname(socket.gethostname())
    if address.startswith("127."):
        pytest.fail("this test needs a non-loopback IPv4 address on the machine")
    return address


def _maildir(tmp_path: Path, *mails: bytes) -> Path:
    folder = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for n, raw in enumerate(mails):
        (folder / "new" / f"{n}.eml").write_bytes(raw)
    return folder


def _with_maildir(text: str, folder: Path) -> str:
    return text + (f'[[maildir]]\nname = "local"\naddress = "support@example.test"\n'
                   f'path = "{folder}"\n')


def _run_once(path: Path) -> str:
    """`run --once` in this process; the configuration's refusal, if any."""
    try:
        app = Ingestd(path)
    except ConfigError as exc:
        return str(exc)
    app.run_once()
    app.close()
    return ""


# ---------------------------------------------------------------- plaintext only on loopback


@pytest.mark.parametrize("table", [
    '[[mailbox]]\nname = "a"\naddress = "a@x.test"\nhost = "{host}"\nport = 143\n'
    'security = "none"\nusername = "u"\npassword = "p"\n',
    '[smtp]\nhost = "{host}"\nport = 25\nsecurity = "none"\n',
])
def test_plaintext_to_another_machine_is_refused_unless_allowed(tmp_path, table):
    path = tmp_path / "c.toml"
    for host in ("127.0.0.1", "localhost", "::1"):
        path.write_text(table.format(host=host))
        config.load(path)  # this machine: fine
    path.write_text(table.format(host="mail.example.test"))
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert str(path) in str(error.value) and "allow_plaintext = true" in str(error.value)
    assert "mail.example.test" in str(error.value)
    path.write_text(table.format(host="mail.example.test") + "allow_plaintext = true\n")
    config.load(path)


def test_imap_login_never_goes_in_clear_to_another_machine(tmp_path, dovecot_tls):
    account = dovecot_tls.new_user()
    dovecot_tls.append(account, [complaint(1)])
    proxy = FaultyProxy(account.host, account.port, listen_host=lan_address())  # STARTTLS port
    try:
        remote = type(account)(proxy.host, proxy.port, account.username, account.password,
                               None, None)
        path = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'db.sqlite3'}",
                                                 [MailboxSpec(remote, security="none")]))
        refusal = _run_once(path)
        assert account.password.encode() not in proxy.from_clients, "LOGIN went in clear"
        assert proxy.connections == 0
        assert "security = 'none'" in refusal and "allow_plaintext" in refusal

        path.write_text(path.read_text().replace('security = "none"',
                                                 'security = "none"\nallow_plaintext = true'))
        with structlog.testing.capture_logs() as logs:
            app = Ingestd(path)
            report = app.run_once()
            app.close()
        assert report.stored == 1
        assert any(e["event"] == "plaintext_connection" and e["log_level"] == "warning"
                   and e["host"] == proxy.host for e in logs)
    finally:
        proxy.close()


def test_smtp_auth_never_goes_in_clear_to_another_machine(tmp_path):
    sink = SmtpSink(host=lan_address())
    sink.start()
    try:
        path = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path / 'db.sqlite3'}",
                                                 smtp_port=sink.port))
        text = path.read_text().replace('host = "127.0.0.1"', f'host = "{sink.host}"').replace(
            'mode = "smtp"', f'mode = "smtp"\nusername = "{sink.username}"\n'
                             f'password = "{sink.password}"')
        path.write_text(_with_maildir(text, _maildir(tmp_path, complaint(1))))
        refusal = _run_once(path)
        assert sink.messages == [], "AUTH and the mail went in clear"
        assert "allow_plaintext" in refusal

        path.write_text(path.read_text().replace('security = "none"',
                                                 'security = "none"\nallow_plaintext = true'))
        with structlog.testing.capture_logs() as logs:
            app = Ingestd(path)
            app.run_once()
            app.close()
        assert sink.messages and sink.messages[0].auth_user == sink.username
        assert [e["what"] for e in logs if e["event"] == "plaintext_connection"] == ["smtp"]
    finally:
        sink.stop()


# ---------------------------------------------------------------- [smtp] with a host


@pytest.fixture
def starttls_sink(dovecot_tls):
    """An aiosmtpd sink that refuses mail until the client has said STARTTLS."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415  (as tests/servers.py does)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(dovecot_tls.tls.cert_file), str(dovecot_tls.tls.key_file))
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port, tls_context=context,
                            require_starttls=True)
    controller.start()
    sink._controller = controller
    try:
        yield sink
    finally:
        sink.stop()


def _contract_config(tmp_path: Path, smtp: str) -> Path:
    """Only the contract's keys in [smtp]: no mode (templates and model named for the test)."""
    path = tmp_path / "config.toml"
    path.write_text(f'templates = "{REPO / "templates"}"\n'
                    f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n'
                    f'[triage]\nmodel = "{REPO / "models" / "current.skops"}"\n'
                    f'[smtp]\n{smtp}from = "Customer Support <support@example.test>"\n'
                    "max_attempts = 2\nbackoff_seconds = 0.01\ntimeout = 5\n")
    path.write_text(_with_maildir(path.read_text(), _maildir(tmp_path, complaint(1))))
    return path


def test_smtp_with_a_host_sends_over_starttls_by_default(tmp_path, dovecot_tls, starttls_sink):
    path = _contract_config(tmp_path, f'host = "127.0.0.1"\nport = {starttls_sink.port}\n'
                                      f'tls_ca_file = "{dovecot_tls.ca_file}"\n')
    settings = config.load(path)
    assert (settings.smtp.mode, settings.smtp.security) == ("smtp", "starttls")
    app = Ingestd(path)
    app.run_once()
    with app.services.factory() as session:
        states = list(session.scalars(select(Outbox.state)))
    app.close()
    assert states and set(states) == {"sent"}
    assert len(starttls_sink.messages) == len(states)
    assert not (tmp_path / "var").exists()  # nothing written to files instead


def test_smtp_with_a_host_and_no_mode_sends_instead_of_writing_files(tmp_path, smtp_sink):
    path = _contract_config(tmp_path, f'host = "127.0.0.1"\nport = {smtp_sink.port}\n'
                                      'security = "none"\n')
    app = Ingestd(path)
    app.run_once()
    app.close()
    assert smtp_sink.messages
    assert smtp_sink.messages[0].rcpt_tos == ("customer1@example.net",)


def test_smtp_defaults(tmp_path):
    path = tmp_path / "c.toml"
    for text, expected in [("", ("file", "none")),
                           ('[smtp]\nhost = "smtp.example.test"\n', ("smtp", "starttls")),
                           ('[smtp]\nhost = "smtp.example.test"\nport = 465\n', ("smtp", "tls")),
                           ('[smtp]\nhost = "h.test"\nmode = "file"\n', ("file", "starttls"))]:
        path.write_text(text)
        smtp = config.load(path).smtp
        assert (smtp.mode, smtp.security) == expected, text


# ---------------------------------------------------------------- database URLs


BAD_URLS = [
    ("sqlite//x", "is not a database URL"),
    ("postgres://", "unknown database 'postgres'"),
    ("postgresql+psycopg://", "names no database"),
    ("nosuch://host/db", "unknown database 'nosuch'"),
    ("postgresql+nodriver://host/db", "unknown or missing driver"),
    ("postgresql+psycopg://ingestd:hunter2@db.example.test:port/db", "port is not a number"),
    ("postgresql+psycopg://db.example.test:99999/db", "port 99999 is out of range"),
    ("sqlite:///", "names no database file"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_a_malformed_database_url_names_the_key_and_says_why(tmp_path, url, message):
    path = tmp_path / "c.toml"
    path.write_text(f'[database]\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert f"{path}: [database] url" in str(error.value) and message in str(error.value)
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(("url", "message"), [BAD_URLS[0], BAD_URLS[1], BAD_URLS[5]])
def test_a_malformed_database_url_is_one_clear_line(tmp_path, url, message):
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "sqlite:///ok.db"\n')
    done = run_cli(path, "cases", "list", env={**os.environ, config.DATABASE_ENV: url})
    assert done.returncode == 78
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert message in done.stderr and config.DATABASE_ENV in done.stderr
    assert "hunter2" not in done.stderr
