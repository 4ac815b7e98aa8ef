"""Prove that the real-server fixtures of tests/servers.py work."""

from __future__ import annotations

import os
import smtplib
import ssl
import subprocess
import sys
import textwrap
import time
from email.message import EmailMessage
from pathlib import Path

import imapclient
import psycopg
import pytest
import sqlalchemy as sa
from imapclient.exceptions import LoginError

from tests.servers import Account, DovecotServer, PgServer, SmtpSink, free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent


def _mail(subject: str, body: str = "Hello.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Customer <customer@example.org>"
    msg["To"] = "support@example.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@example.org>"
    msg.set_content(body)
    return msg.as_bytes()


def _subjects(server: DovecotServer, account: Account, folder: str = "INBOX") -> list[str]:
    raw = server.fetch_all(account, folder)
    return sorted(
        line.split(b":", 1)[1].strip().decode()
        for data in raw.values()
        for line in data.splitlines()
        if line.startswith(b"Subject:")
    )


# --------------------------------------------------------------------------- helpers


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 < port < 65536


def test_wait_for_returns_value_and_times_out() -> None:
    start = time.monotonic()
    assert wait_for(lambda: time.monotonic() - start > 0.05 and "done", timeout=2) == "done"
    with pytest.raises(AssertionError, match="never"):
        wait_for(lambda: False, timeout=0.05, message="never")


# --------------------------------------------------------------------------- dovecot


def test_imap_login_append_fetch(dovecot: DovecotServer, imap_account: Account) -> None:
    uids = dovecot.append(imap_account, [_mail("first"), _mail("second")])
    assert len(uids) == 2
    with imapclient.IMAPClient(imap_account.host, imap_account.port, ssl=False) as imap:
        imap.login(imap_account.username, imap_account.password)
        imap.select_folder("INBOX")
        found = imap.search("ALL")
        assert sorted(found) == sorted(uids)
        data = imap.fetch(found, [b"BODY[]"])
        bodies = [item[b"BODY[]"] for item in data.values()]
    assert any(b"Subject: first" in body for body in bodies)
    assert any(b"Subject: second" in body for body in bodies)


def test_default_mailboxes_exist(dovecot: DovecotServer) -> None:
    for account in (dovecot.support, dovecot.sales, dovecot.billing):
        assert account.password == "secret"
        with dovecot.connect(account) as imap:
            assert imap.select_folder("INBOX")[b"UIDVALIDITY"] > 0


def test_wrong_password_is_rejected(dovecot: DovecotServer, imap_account: Account) -> None:
    with (
        imapclient.IMAPClient(imap_account.host, imap_account.port, ssl=False) as imap,
        pytest.raises(LoginError),
    ):
        imap.login(imap_account.username, "wrong")
    wait_for(lambda: "Password mismatch" in dovecot.log_text(), message="auth failure logged")


def test_bulk_append_is_fast(dovecot: DovecotServer, imap_account: Account) -> None:
    start = time.monotonic()
    uids = dovecot.append(imap_account, [_mail(f"bulk {i}") for i in range(500)], "Bulk")
    elapsed = time.monotonic() - start
    assert uids == list(range(1, 501))
    assert elapsed < 10, f"500 appends took {elapsed:.1f}s"
    with dovecot.connect(imap_account) as imap:
        assert imap.folder_status("Bulk", [b"MESSAGES"])[b"MESSAGES"] == 500


def test_folders_create_delete(dovecot: DovecotServer, imap_account: Account) -> None:
    dovecot.create_folder(imap_account, "Archive")
    assert "Archive" in dovecot.folders(imap_account)
    dovecot.delete_folder(imap_account, "Archive")
    assert "Archive" not in dovecot.folders(imap_account)


@pytest.mark.parametrize("folder", ["INBOX", "Other"])
def test_reset_uidvalidity_keeps_messages(
    dovecot: DovecotServer, imap_account: Account, folder: str
) -> None:
    dovecot.append(imap_account, [_mail("a"), _mail("b")], folder)
    before = dovecot.uidvalidity(imap_account, folder)
    after = dovecot.reset_uidvalidity(imap_account, folder)
    assert after != before
    assert dovecot.uidvalidity(imap_account, folder) == after
    assert _subjects(dovecot, imap_account, folder) == ["a", "b"]


def test_new_user_is_isolated(dovecot: DovecotServer) -> None:
    first, second = dovecot.new_user(), dovecot.new_user("other")
    assert first.username != second.username
    dovecot.append(first, _mail("only for first"))
    assert dovecot.fetch_all(second) == {}
    assert len(dovecot.fetch_all(first)) == 1


def test_idle_pushes_new_mail(dovecot: DovecotServer, imap_account: Account) -> None:
    with dovecot.connect(imap_account) as imap:
        imap.select_folder("INBOX")
        imap.idle()
        dovecot.append(imap_account, _mail("pushed"))
        responses = imap.idle_check(timeout=5)
        imap.idle_done()
    assert any(r[1] == b"EXISTS" for r in responses if isinstance(r, tuple))


def test_stop_start_keeps_messages(dovecot: DovecotServer, imap_account: Account) -> None:
    dovecot.append(imap_account, [_mail("kept 1"), _mail("kept 2")])
    port = dovecot.port
    dovecot.stop()
    try:
        assert not dovecot.running
        with pytest.raises(ConnectionRefusedError):
            imapclient.IMAPClient(dovecot.host, port, ssl=False, timeout=2)
    finally:
        dovecot.start()
    assert dovecot.port == port
    assert _subjects(dovecot, imap_account) == ["kept 1", "kept 2"]
    dovecot.restart(kill=True)
    assert _subjects(dovecot, imap_account) == ["kept 1", "kept 2"]


# --------------------------------------------------------------------------- dovecot TLS


def test_tls_login_with_ca_file(dovecot_tls: DovecotServer, imap_tls_account: Account) -> None:
    acct = imap_tls_account
    assert acct.ssl_port is not None and acct.ca_file is not None
    context = ssl.create_default_context(cafile=acct.ca_file)
    dovecot_tls.append(acct, _mail("over tls"))
    with imapclient.IMAPClient(acct.host, acct.ssl_port, ssl=True, ssl_context=context) as imap:
        imap.login(acct.username, acct.password)
        assert imap.select_folder("INBOX")[b"EXISTS"] == 1
    # STARTTLS on the plain port, by host name this time.
    with imapclient.IMAPClient("localhost", acct.port, ssl=False) as imap:
        imap.starttls(ssl.create_default_context(cafile=acct.ca_file))
        imap.login(acct.username, acct.password)
        assert imap.select_folder("INBOX")[b"EXISTS"] == 1


def test_tls_with_system_trust_fails(dovecot_tls: DovecotServer) -> None:
    assert dovecot_tls.ssl_port is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(dovecot_tls.host, dovecot_tls.ssl_port, ssl=True, timeout=5)
    foreign = dovecot_tls.ssl_context(trusted=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(
            dovecot_tls.host, dovecot_tls.ssl_port, ssl=True, ssl_context=foreign, timeout=5
        )
    with (
        imapclient.IMAPClient(dovecot_tls.host, dovecot_tls.port, ssl=False, timeout=5) as imap,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        imap.starttls(ssl.create_default_context())


# --------------------------------------------------------------------------- SMTP sink


def _send(sink: SmtpSink, subject: str, *, login: bool = False) -> None:
    msg = EmailMessage()
    msg["From"] = "ingestd@example.test"
    msg["To"] = "customer@example.org"
    msg["Subject"] = subject
    msg.set_content("We received your message.")
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
        if login:
            smtp.login(sink.username, sink.password)
        smtp.send_message(msg)


def test_smtp_sink_receives(smtp_sink: SmtpSink) -> None:
    _send(smtp_sink, "ack 1")
    (received,) = smtp_sink.wait_for(1)
    assert received.mail_from == "ingestd@example.test"
    assert received.rcpt_tos == ("customer@example.org",)
    assert received.message["Subject"] == "ack 1"
    assert b"We received your message." in received.data
    assert received.auth_user is None


def test_smtp_sink_auth(smtp_sink: SmtpSink) -> None:
    _send(smtp_sink, "with login", login=True)
    assert smtp_sink.wait_for(1)[0].auth_user == smtp_sink.username
    with (
        smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        smtp.login(smtp_sink.username, "wrong")


def test_smtp_sink_refuses_then_accepts(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse_next(2)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as excinfo:
            _send(smtp_sink, "retry me")
        assert excinfo.value.smtp_code == 451
    _send(smtp_sink, "retry me")
    assert [m.message["Subject"] for m in smtp_sink.wait_for(1)] == ["retry me"]
    assert smtp_sink.refused == 2

    smtp_sink.refusing = True
    smtp_sink.refuse_stage = "rcpt"
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(smtp_sink, "refused at rcpt")
    smtp_sink.refusing = False
    _send(smtp_sink, "accepted again")
    assert len(smtp_sink.wait_for(2)) == 2


def test_smtp_sink_down_then_up(smtp_sink: SmtpSink) -> None:
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(ConnectionRefusedError):
        _send(smtp_sink, "lost")
    smtp_sink.start()
    assert smtp_sink.port == port
    _send(smtp_sink, "after restart")
    assert smtp_sink.wait_for(1)[0].message["Subject"] == "after restart"


# --------------------------------------------------------------------------- databases


def test_pg_url_database_exists(pg_url: str, pg_server: PgServer) -> None:
    name = sa.make_url(pg_url).database
    assert name is not None and pg_server.exists(name)
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_database()")).scalar() == name
    engine.dispose()


def test_pg_database_dropped_afterwards(pg_server: PgServer) -> None:
    with pg_server.database() as url:
        name = sa.make_url(url).database
        assert name is not None and pg_server.exists(name)
        # A connection still open at teardown must not prevent the drop.
        leaked = psycopg.connect(host=pg_server.host, user=pg_server.user, dbname=name)
    assert not pg_server.exists(name)
    leaked.close()


def test_fixture_teardown_drops_databases(tmp_path: Path, pg_server: PgServer) -> None:
    """Run the real fixtures in a child pytest and check their databases are gone after."""
    names_file = tmp_path / "names.txt"
    test_file = tmp_path / "test_child.py"
    test_file.write_text(
        textwrap.dedent(
            f"""
            import sqlalchemy as sa

            def _record(url):
                with open({str(names_file)!r}, "a") as f:
                    f.write(sa.make_url(url).database + "\\n")

            def test_session(pg_url):
                _record(pg_url)

            def test_fresh(fresh_pg_url):
                _record(fresh_pg_url)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.servers", "-p", "no:cacheprovider",
         str(test_file), "--rootdir", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    names = names_file.read_text().split()
    assert len(names) == 2
    for name in names:
        assert not pg_server.exists(name), f"{name} was not dropped"


def test_db_url_works(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            conn.execute(sa.text("INSERT INTO t VALUES (41)"))
            assert conn.execute(sa.text("SELECT x + 1 FROM t")).scalar() == 42
    finally:
        engine.dispose()
