"""[threading] require_authenticated_sender: a subject tag joins a mail to a participant's case
only when our own receiving server authenticated the From (its Authentication-Results, by
authserv-id: DMARC pass, or DKIM/SPF pass for the From domain). Real Dovecot."""

from __future__ import annotations

import pytest
import structlog
from sqlalchemy import select

from ingestd import config
from ingestd.errors import ConfigError
from storage import Case, CaseMessage
from tests.support import ConfigSpec, Ingestd, MailboxSpec, complaint, mail, write_config

OURS = "mx.example.test"
ANN = "Ann Lee <ann@example.net>"


def _reply(tag: str, body: str, *results: str) -> bytes:
    """Ann's address in From; the Authentication-Results as the receiving server left them."""
    raw = mail(ANN, f"Re: {tag}", body)
    return b"".join(f"Authentication-Results: {r}\r\n".encode() for r in results) + raw


def test_a_tag_joins_only_a_sender_our_server_authenticated(tmp_path, dovecot):
    account = dovecot.new_user()
    app = Ingestd(write_config(tmp_path, ConfigSpec(
        f"sqlite:///{tmp_path / 'db.sqlite3'}", [MailboxSpec(account)],
        extra=f'[threading]\nrequire_authenticated_sender = true\nauthserv_id = "{OURS}"\n')))
    dovecot.append(account, [complaint(1, sender=ANN)])
    app.run_once()
    with app.services.factory() as session:
        (case,) = session.scalars(select(Case))
    tag = f"[{case.reference}]"
    dovecot.append(account, [
        _reply(tag, "forged, no verdict at all"),
        _reply(tag, "forged, dmarc failed", f"{OURS}; dmarc=fail header.from=example.net; "
               "spf=pass smtp.mailfrom=mallory@evil.example"),
        _reply(tag, "forged, a pass from a server that is not ours",
               f"{OURS}; dmarc=fail header.from=example.net",
               "evil.example; dmarc=pass header.from=example.net"),
        _reply(tag, "forged, signed by another domain",
               f"{OURS}; dkim=pass header.d=evil.example header.i=@evil.example"),
        _reply(tag, "genuine, dmarc passed", f"{OURS}; dkim=pass header.d=example.net; "
               "spf=pass smtp.mailfrom=ann@example.net; dmarc=pass header.from=example.net"),
        _reply(tag, "genuine, dkim passed for Ann's domain",
               f"{OURS.upper()}; dkim=pass (good signature) header.d=example.net"),
    ])
    with structlog.testing.capture_logs() as logs:
        app.run_once()
    with app.services.factory() as session:
        joined = list(session.scalars(select(CaseMessage.text).where(
            CaseMessage.case_id == case.id, CaseMessage.direction == "in")))
        others = list(session.scalars(select(Case).where(Case.id != case.id)))
    app.close()
    assert sorted(text.split(",")[0] for text in joined[1:]) == ["genuine", "genuine"]
    assert len(others) == 4
    assert all(f"unauthenticated_sender:{case.reference}" in c.flags for c in others)
    refused = [e for e in logs if e["event"] == "tag_not_trusted"]
    assert len(refused) == 4 and all(e["reference"] == case.reference for e in refused)
    reasons = " | ".join(e["reason"] for e in refused)
    assert f"no Authentication-Results from {OURS}" in reasons and "dmarc=fail" in reasons


def test_authenticated_threading_needs_our_servers_id(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[threading]\nrequire_authenticated_sender = true\n")
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert "threading" in str(error.value) and "authserv_id" in str(error.value)
