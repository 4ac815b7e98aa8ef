"""Durable ingestion from a real Dovecot: cases, idempotence, UIDVALIDITY, quarantine, errors."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from storage import (
    Case,
    CaseMessage,
    Event,
    FolderState,
    Outbox,
    Participant,
    Quarantine,
    RawMessage,
    transaction,
)
from tests.servers import free_port
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


def _cases(app: Ingestd) -> list[Case]:
    with app.services.factory() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def test_drain_makes_one_case_per_mail_and_a_second_drain_adds_nothing(
        db_url, dovecot, tmp_path):
    account = dovecot.new_user()
    dovecot.append(account, [complaint(n) for n in range(40)])
    app = Ingestd(write_config(tmp_path, ConfigSpec(db_url, [MailboxSpec(account, batch_size=7)])))

    first = app.run_once()
    second = app.run_once()

    cases = _cases(app)
    assert len(cases) == 40
    assert len({c.reference for c in cases}) == 40
    assert all(c.reference and c.reference.startswith("CMP-20") for c in cases)
    assert {c.customer_address for c in cases} == {f"customer{n}@example.net" for n in range(40)}
    assert first.stored == 40
    assert (second.stored, second.processed.processed) == (0, 0)


def test_mail_that_waited_for_a_restart_keeps_its_arrival_time(db_url, dovecot, tmp_path):
    """Its clocks start when the server received it (INTERNALDATE), not when ingestd read it.

    Mail dated before the folder's last read (moved in later, or imported with its old date)
    and mail of a first read, which may be years of history, count from the read.
    """
    account = dovecot.new_user()
    now = datetime.now(UTC).replace(microsecond=0)
    dovecot.append(account, complaint(1), msg_time=now - timedelta(days=30))
    app = Ingestd(write_config(tmp_path, ConfigSpec(db_url, [MailboxSpec(account)])))
    app.run_once()
    with transaction(app.services.factory) as session:  # the last read was 3 hours ago
        session.execute(update(FolderState).values(last_success_at=now - timedelta(hours=3)))
    dovecot.append(account, complaint(2), msg_time=now - timedelta(hours=2))  # while down
    dovecot.append(account, complaint(3), msg_time=now - timedelta(hours=5))  # moved in
    app.run_once()

    cases = {c.customer_address: c for c in _cases(app)}
    waited = cases["customer2@example.net"]
    assert waited.received_at == now - timedelta(hours=2)
    assert waited.acknowledge_due == now + timedelta(hours=22)  # 24 h from its arrival
    assert cases["customer1@example.net"].received_at >= now
    assert cases["customer3@example.net"].received_at >= now


def test_mail_stays_unread_on_the_server(dovecot, tmp_path):
    account = dovecot.new_user()
    dovecot.append(account, [complaint(1), complaint(2)])
    app = Ingestd(write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3",
                                                    [MailboxSpec(account)])))
    app.run_once()
    with dovecot.connect(account) as imap:
        imap.select_folder("INBOX")
        flags = imap.get_flags(imap.search("ALL"))
    assert flags and all(b"\\Seen" not in f for f in flags.values())


def test_uidvalidity_change_adds_nothing(db_url, dovecot, tmp_path):
    account = dovecot.new_user()
    dovecot.append(account, [complaint(n) for n in range(10)])
    app = Ingestd(write_config(tmp_path, ConfigSpec(db_url, [MailboxSpec(account)])))
    app.run_once()

    old = dovecot.uidvalidity(account)
    assert dovecot.reset_uidvalidity(account) != old
    report = app.run_once()

    assert len(_cases(app)) == 10
    assert report.duplicates == 10
    assert report.processed.processed == 0


def test_malformed_mail_is_quarantined_and_the_rest_land(db_url, dovecot, tmp_path):
    account = dovecot.new_user()
    no_sender = (b"To: support@example.test\r\nSubject: who am I\r\nMessage-ID: <x1@t>\r\n\r\n"
                 b"hello\r\n")
    garbage = b"\x00\x01this is not a mail at all\r\n\r\n\xff\xfe"
    dovecot.append(account, [complaint(1), no_sender, garbage, complaint(2)])
    config = write_config(tmp_path, ConfigSpec(db_url, [MailboxSpec(account)]))
    app = Ingestd(config)
    report = app.run_once()

    assert len(_cases(app)) == 2
    assert report.processed.quarantined == 2
    listed = json.loads(run_cli(config, "quarantine", "list", "--json").stdout)
    assert {entry["step"] for entry in listed} == {"parse", "filter_loops"}
    assert any("no sender address" in entry["error"] for entry in listed)
    with app.services.factory() as session:
        kept = session.scalar(select(func.count(RawMessage.id)).where(RawMessage.raw.is_not(None)))
        assert kept == 4  # the raw bytes of every mail are kept, failed or not


def test_quarantine_retry_reruns_a_fixed_failure(tmp_path, dovecot):
    account = dovecot.new_user()
    dovecot.append(account, [complaint(1)])
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    notification = templates / "team_notification.txt"
    good_text = notification.read_text()
    notification.write_text("this template lost its subject line\n")
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3",
                                               [MailboxSpec(account)], templates=templates))
    assert run_cli(config, "db", "upgrade").returncode == 0
    assert run_cli(config, "run", "--once").returncode == 0
    listed = json.loads(run_cli(config, "quarantine", "list", "--json").stdout)
    assert [entry["step"] for entry in listed] == ["acknowledge"]
    assert json.loads(run_cli(config, "cases", "list", "--json").stdout) == []

    notification.write_text(good_text)
    retried = run_cli(config, "quarantine", "retry")

    assert retried.returncode == 0, retried.stderr
    assert json.loads(run_cli(config, "quarantine", "list", "--json").stdout) == []
    assert len(json.loads(run_cli(config, "cases", "list", "--json").stdout)) == 1


def test_several_mailboxes_and_folders(tmp_path, dovecot):
    first, second = dovecot.new_user("a"), dovecot.new_user("b")
    dovecot.append(first, [complaint(1)], folder="INBOX")
    dovecot.append(first, [complaint(2), complaint(3)], folder="Complaints")
    dovecot.append(second, [complaint(4)])
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3", [
        MailboxSpec(first, name="one", folders=("INBOX", "Complaints")),
        MailboxSpec(second, name="two")]))
    app = Ingestd(config)
    app.run_once()
    assert len(_cases(app)) == 4
    with app.services.factory() as session:
        sources = set(session.execute(select(RawMessage.source, RawMessage.folder)).all())
    assert sources == {("one", "INBOX"), ("one", "Complaints"), ("two", "INBOX")}


def test_wrong_password_gives_one_clear_line(tmp_path, dovecot):
    account = dovecot.new_user()
    account = type(account)(account.host, account.port, account.username, "wrong")
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3",
                                               [MailboxSpec(account)]))
    assert run_cli(config, "db", "upgrade").returncode == 0
    done = run_cli(config, "run", "--once")
    assert done.returncode == 77
    assert "refused the login" in done.stderr
    assert "check username and password" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_server_gives_one_clear_line(tmp_path, dovecot):
    account = dovecot.new_user()
    account = type(account)(account.host, free_port(), account.username, account.password)
    config = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3",
                                               [MailboxSpec(account)]))
    run_cli(config, "db", "upgrade")
    done = run_cli(config, "run", "--once")
    assert done.returncode == 69
    assert "cannot connect" in done.stderr and "Traceback" not in done.stderr


def test_tls_with_the_configured_ca_works_and_an_untrusted_one_is_refused(tmp_path, dovecot_tls):
    account = dovecot_tls.new_user()
    dovecot_tls.append(account, [complaint(1)])
    good = write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3",
                                             [MailboxSpec(account, security="tls")]))
    app = Ingestd(good)
    app.run_once()
    assert len(_cases(app)) == 1

    untrusted_dir = tmp_path / "untrusted"
    untrusted_dir.mkdir()
    bare = type(account)(account.host, account.port, account.username, account.password,
                         account.ssl_port, None)
    bad = write_config(untrusted_dir, ConfigSpec(f"sqlite:///{untrusted_dir}/db.sqlite3",
                                                 [MailboxSpec(bare, security="tls")]))
    run_cli(bad, "db", "upgrade")
    done = run_cli(bad, "run", "--once")
    assert done.returncode == 69
    assert "TLS certificate not trusted" in done.stderr


def test_starttls(tmp_path, dovecot_tls):
    account = dovecot_tls.new_user()
    dovecot_tls.append(account, [complaint(1), complaint(2)])
    app = Ingestd(write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3",
                                                    [MailboxSpec(account, security="starttls")])))
    app.run_once()
    assert len(_cases(app)) == 2


def test_five_hundred_mails_become_five_hundred_cases(db_url, dovecot, tmp_path):
    account = dovecot.new_user()
    dovecot.append(account, [complaint(n) for n in range(500)])
    app = Ingestd(write_config(tmp_path, ConfigSpec(db_url, [MailboxSpec(account)])))
    app.drain()
    app.drain()
    with app.services.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 500
        assert session.scalar(select(func.count(func.distinct(Case.reference)))) == 500
        assert session.scalar(select(func.count(Quarantine.id))) == 0


def test_same_mail_in_two_folders_is_one_case(tmp_path, dovecot):
    account = dovecot.new_user()
    one = complaint(7, message_id="<same@customer.example>")
    dovecot.append(account, [one], folder="INBOX")
    dovecot.append(account, [one], folder="Copy")
    different_body = mail("Customer 7 <customer7@example.net>", "another", "other text",
                          message_id="<same@customer.example>")
    dovecot.append(account, [different_body], folder="Copy")
    app = Ingestd(write_config(tmp_path, ConfigSpec(f"sqlite:///{tmp_path}/db.sqlite3", [
        MailboxSpec(account, folders=("INBOX", "Copy"))])))
    report = app.run_once()
    assert report.duplicates == 1
    assert len(_cases(app)) == 2  # same Message-ID, different body: not the same mail


def test_a_message_failing_halfway_is_undone_whole_and_its_batch_neighbours_kept(
        db_url, dovecot, tmp_path):
    """A batch writes its new cases' rows together; the one that fails after its case was
    built leaves no trace, while the cases around it, and a reply in the same batch that
    threads onto one of them, are all kept."""
    account = dovecot.new_user()
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    notification = templates / "team_notification.txt"
    notification.write_text('{% if "explode" in subject %}{{ no_such_value }}{% endif %}'
                            + notification.read_text())
    first = "<first@customer.example>"
    dovecot.append(account, [
        complaint(1, message_id=first),
        mail("Bob <bob@example.net>", "My kettle will explode", "It hisses and sparks."),
        complaint(3),
        mail("Customer 1 <customer1@example.net>", "Re: still waiting", "Any news?",
             in_reply_to=first)])
    app = Ingestd(write_config(tmp_path, ConfigSpec(db_url, [MailboxSpec(account)],
                                                    templates=templates)))
    report = app.drain()

    assert (report.processed.processed, report.processed.quarantined) == (3, 1)
    with app.services.factory() as session:
        (entry,) = session.scalars(select(Quarantine))
        assert entry.step == "acknowledge" and "no_such_value" in entry.error
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        assert [c.customer_address for c in cases] == ["customer1@example.net",
                                                       "customer3@example.net"]
        assert [len(c.messages) for c in cases] == [3, 2]  # in, ack out (+ the reply)
        assert all(c.events and c.participants for c in cases)
        bob = [session.scalar(select(func.count()).select_from(table).where(column))
               for table, column in ((Participant, Participant.address == "bob@example.net"),
                                     (Outbox, Outbox.recipient == "bob@example.net"),
                                     (CaseMessage, CaseMessage.sender == "bob@example.net"))]
        assert bob == [0, 0, 0]
        # ack + notice per case, and the team told of the customer's reply
        assert sorted(session.scalars(select(Outbox.kind))) == [
            "acknowledgment", "acknowledgment", "customer_replied", "team_notification",
            "team_notification"]
        assert session.scalar(select(func.count(Event.id)).where(Event.case_id.is_(None))) == 0
