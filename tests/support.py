"""Test helpers: configurations, mails and an in-process ingestd against real servers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from ingestd import config
from ingestd.casework import build_sender
from ingestd.intake import DrainReport, drain_all
from ingestd.services import Services, build_services, open_database
from storage import upgrade, utcnow

REPO = Path(__file__).resolve().parents[1]


@dataclass
class MailboxSpec:
    account: Any  # tests.servers.Account
    name: str = "support"
    folders: Sequence[str] = ("INBOX",)
    security: str = "none"
    batch_size: int = 500


@dataclass
class ConfigSpec:
    db_url: str
    mailboxes: list[MailboxSpec] = field(default_factory=list)
    maildirs: dict[str, Path] = field(default_factory=dict)
    smtp_port: int | None = None
    sender: str = "Customer Support <support@example.test>"
    templates: Path = REPO / "templates"
    extra: str = ""


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(directory: Path, spec: ConfigSpec) -> Path:
    """A config.toml for a test: its own database, mailboxes and outgoing mail."""
    lines = [f"templates = {toml_string(str(spec.templates))}",
             "[database]", f"url = {toml_string(spec.db_url)}",
             "[triage]", f"model = {toml_string(str(REPO / 'models' / 'current.skops'))}"]
    for box in spec.mailboxes:
        account = box.account
        port = account.ssl_port if box.security == "tls" else account.port
        lines += ["[[mailbox]]", f"name = {toml_string(box.name)}",
                  f"address = {toml_string(account.username)}",
                  f"host = {toml_string(account.host)}",
                  f"port = {port}", f"security = {toml_string(box.security)}",
                  f"username = {toml_string(account.username)}",
                  f"password = {toml_string(account.password)}",
                  "folders = [" + ", ".join(toml_string(f) for f in box.folders) + "]",
                  f"batch_size = {box.batch_size}", "timeout = 10"]
        if account.ca_file:
            lines.append(f"tls_ca_file = {toml_string(account.ca_file)}")
    for name, path in spec.maildirs.items():
        lines += ["[[maildir]]", f"name = {toml_string(name)}",
                  'address = "support@example.test"', f"path = {toml_string(str(path))}"]
    if spec.smtp_port is None:
        lines += ["[smtp]", 'mode = "file"', f"path = {toml_string(str(directory / 'outbox'))}",
                  f"from = {toml_string(spec.sender)}"]
    else:
        lines += ["[smtp]", 'mode = "smtp"', 'host = "127.0.0.1"', f"port = {spec.smtp_port}",
                  'security = "none"', f"from = {toml_string(spec.sender)}",
                  "max_attempts = 5", "backoff_seconds = 0.01", "timeout = 5"]
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n" + spec.extra, encoding="utf-8")
    return path


class Ingestd:
    """ingestd in this process: the same objects the CLI builds, with a clock tests can set."""

    def __init__(self, config_path: Path, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = config.load(config_path)
        engine = open_database(self.settings, check_schema=False)
        upgrade(engine)
        self.engine = engine
        self.services: Services = build_services(self.settings, engine, clock)

    def drain(self) -> DrainReport:
        return drain_all(self.services)

    def send(self) -> Any:
        return build_sender(self.services).deliver_pending()

    def run_once(self) -> DrainReport:
        report = self.drain()
        self.send()
        return report

    def close(self) -> None:
        self.services.close()
        self.engine.dispose()


def run_cli(config_path: Path | None, *args: str, stdin: bytes | None = None,
            env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `ingestd` command line."""
    command = [sys.executable, "-m", "ingestd"]
    if config_path is not None:
        command += ["--config", str(config_path)]
    return subprocess.run(command + list(args), input=stdin.decode() if stdin else None,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
                          check=False)


def mail(sender: str, subject: str, body: str, *, to: str = "support@example.test",
         cc: str | None = None, message_id: str | None = None, in_reply_to: str | None = None,
         references: str | None = None, headers: dict[str, str] | None = None) -> bytes:
    """A plain mail as a customer's program would send it."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id or make_msgid(domain="customer.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references or in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


COMPLAINTS = [
    ("I was charged twice for order #A{n:06d}", "Hello, my card was charged twice for the same "
     "order #A{n:06d}. Please refund the second payment of 49.99. Thanks"),
    ("Parcel {n} never arrived", "My parcel for order {n}-2231 was marked delivered but nothing "
     "arrived. The courier did not leave a card. Where is it?"),
    ("Broken blender ({n})", "The blender I bought (order B{n:05d}) stopped working after a week, "
     "the motor just hums. I would like a replacement."),
    ("Cannot log in {n}", "Since yesterday I cannot log into my account, the password reset mail "
     "never arrives. Please help me get back in."),
]


def complaint(n: int, sender: str | None = None, **kwargs: Any) -> bytes:
    subject, body = COMPLAINTS[n % len(COMPLAINTS)]
    who = sender or f"Customer {n} <customer{n}@example.net>"
    return mail(who, subject.format(n=n), body.format(n=n), **kwargs)
