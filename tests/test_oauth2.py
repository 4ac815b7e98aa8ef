"""XOAUTH2 login against Dovecot's oauth2 passdb, with a token command and a token file.

Dovecot 2.3 checks a bearer token by asking an introspection URL; here that is a tiny HTTP
server on loopback that knows one token, so the test runs offline.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ingestd import config
from ingestd.errors import AuthenticationError
from ingestd.sources.imap import ImapSource
from tests.servers import DovecotServer, free_port
from tests.support import toml_string

TOKEN = "ya29.test-token-for-ingestd"


class Introspection:
    """RFC 7662-style token introspection that accepts TOKEN for every user."""

    def __init__(self) -> None:
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler) -> None:  # noqa: N805  (handler is this request)
                length = int(handler.headers.get("Content-Length") or 0)
                body = handler.rfile.read(length).decode()
                auth = handler.headers.get("Authorization", "")
                self.calls += 1
                active = TOKEN in body or TOKEN in auth
                handler._json({"active": active, "username": self.username} if active
                              else {"active": False})

            do_GET = do_POST  # noqa: N815  (the http.server hook name)

            def _json(handler, data: dict[str, Any]) -> None:  # noqa: N805  (the handler instance, named apart from the test class)
                payload = json.dumps(data).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(payload)))
                handler.end_headers()
                handler.wfile.write(payload)

            def log_message(handler, *args: Any) -> None:  # noqa: N805  (the handler instance, named apart from the test class)
                pass

        self.username = ""
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/introspect"


class OAuthDovecot(DovecotServer):
    """The fixture's Dovecot with an oauth2 passdb (XOAUTH2, OAUTHBEARER) in front."""

    introspection_url = ""

    def _write_config(self) -> None:
        super()._write_config()
        ext = self.root / "oauth2.conf.ext"
        ext.write_text(f"introspection_mode = post\nintrospection_url = {self.introspection_url}\n"
                       "username_attribute = username\nactive_attribute = active\n"
                       "active_value = true\ntokeninfo_url = \n", encoding="utf-8")
        ext.chmod(0o644)
        text = self.config_file.read_text(encoding="utf-8")
        text = text.replace("auth_mechanisms = plain login",
                            "auth_mechanisms = plain login xoauth2 oauthbearer")
        text = text.replace("passdb {", "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 "
                            f"oauthbearer\n  args = {ext}\n}}\npassdb {{", 1)
        self.config_file.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[tuple[OAuthDovecot, Introspection]]:
    introspection = Introspection()
    OAuthDovecot.introspection_url = introspection.url
    root = Path(tempfile.mkdtemp(prefix="ingestd-dovecot-oauth-"))
    server = OAuthDovecot(root)
    try:
        server.start()
        yield server, introspection
    finally:
        server.close()
        introspection.server.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def _mailbox(tmp_path: Path, server: DovecotServer, user: str, auth: str) -> config.MailboxConfig:
    path = tmp_path / "config.toml"
    path.write_text(
        f"[[mailbox]]\nname = \"support\"\naddress = {toml_string(user)}\nhost = \"127.0.0.1\"\n"
        f"port = {server.port}\nsecurity = \"none\"\nusername = {toml_string(user)}\n"
        f"auth = \"xoauth2\"\n{auth}\ntimeout = 10\n", encoding="utf-8")
    return config.load(path).mailbox[0]


def test_xoauth2_with_token_command(tmp_path: Path,
                                    oauth_server: tuple[OAuthDovecot, Introspection]) -> None:
    server, introspection = oauth_server
    account = server.new_user("oauth")
    introspection.username = account.username
    command = f"{sys.executable} -c \"print('{TOKEN}')\""
    mailbox = _mailbox(tmp_path, server, account.username,
                       f"oauth2_token_command = {toml_string(command)}")
    server.append(account, b"Subject: hi\r\n\r\nhello\r\n")
    source = ImapSource(mailbox)
    try:
        assert source.uidvalidity("INBOX") > 0
        assert sum(len(b.deliveries) for b in source.new_batches("INBOX", 0)) == 1
    finally:
        source.close()
    assert introspection.calls >= 1


def test_xoauth2_token_file_and_refusal(tmp_path: Path,
                                        oauth_server: tuple[OAuthDovecot, Introspection]) -> None:
    server, introspection = oauth_server
    account = server.new_user("oauth")
    introspection.username = account.username
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    good = _mailbox(tmp_path, server, account.username,
                    f"oauth2_token_file = {toml_string(str(token_file))}")
    ImapSource(good).connect().logout()
    token_file.write_text("expired-token\n", encoding="utf-8")
    with pytest.raises(AuthenticationError, match="refused the login"):
        ImapSource(good).connect()
