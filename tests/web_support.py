"""The web desk under test: a database filled through the real pipeline, users, and a real
`ingestd web` on a free loopback port, for the browser tests in tests/browser/.

The cases arrive as a customer's mail would: files in a Maildir that a running `ingestd run`
polls every second (parse, thread, triage, acknowledge; its sender delivers the outbox to an
aiosmtpd sink). The users are added with `ingestd users add`. Nothing here touches the
database directly: what the page did is checked with `ingestd cases show --json`.
"""

from __future__ import annotations

import contextlib
import email.policy
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from tests.servers import LOOPBACK, ReceivedMessage, SmtpSink, free_port, wait_for
from tests.support import REPO, ConfigSpec, mail, run_cli, write_config

CHROMIUM = Path("/usr/lib/chromium/chromium")  # Debian's chromium package
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"  # kept by CI, ignored by git

PASSWORD = "correct horse battery staple"
USERS = {  # name: (email, role)
    "alice": ("alice@agents.example.test", "agent"),
    "bob": ("bob@agents.example.test", "agent"),
    "carol": ("carol@agents.example.test", "admin"),
}

# Words that occur in the body of one kind of mail only (the full-text search finds them).
SEARCH_WORD = "marmalade"
BULK_WORD = "thermostat"
LIVE_WORD = "lighthouse"
BULK_CASES = 20

XSS_SUBJECT = '<script>window.xssSubject=1;console.log("XSS-RAN")</script> Kettle lid melted'
XSS_TEXT = ('The kettle lid melted. <script>window.xssText=1;alert("XSS-RAN")</script>\n'
            '<img src=x onerror="window.xssText=1;alert(\'XSS-RAN\')">\n')
XSS_HTML = ('<html><body><p>The kettle lid <b>melted</b>.</p>'
            '<img src=x onerror="window.xssImg=1;alert(\'XSS-RAN\')">'
            '<script>window.xssHtml=1;console.log("XSS-RAN")</script>'
            '<a href="javascript:window.xssLink=1">see photo</a>'
            '<iframe src="javascript:alert(\'XSS-RAN\')"></iframe></body></html>')
XSS_ATTACHMENT = ("receipt.html",  # served as a download, never rendered by the desk
                  b'<html><script>alert("XSS-RAN")</script><p>Receipt 4410</p></html>')


def _address(key: str) -> str:
    return f"{key}@customer.example"


def _message_id(key: str, backend: str) -> str:
    return f"<{key}.{backend}@customer.example>"


def _xss_mail(backend: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Mallory <{_address('xss')}>", "support@example.test"
    msg["Subject"], msg["Date"] = XSS_SUBJECT, formatdate(localtime=False)
    msg["Message-ID"] = _message_id("xss", backend)
    msg.set_content(XSS_TEXT)
    msg.add_alternative(XSS_HTML, subtype="html")
    name, data = XSS_ATTACHMENT
    msg.add_attachment(data, maintype="text", subtype="html", filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)


def _mails(backend: str) -> dict[str, bytes]:
    """Every customer mail the desk starts with, by key (the key is the sender's local part)."""
    def one(key: str, subject: str, body: str) -> bytes:
        return mail(f"Customer {key} <{_address(key)}>", subject, body,
                    message_id=_message_id(key, backend))

    mails = {
        "search": one("search", "Smashed jar in my parcel",
                      f"The jar of {SEARCH_WORD} in order 7781 arrived smashed and sticky. "
                      "Please send a new one."),
        "reply": one("reply", "Wrong size delivered",
                     "I ordered the jacket in size M and got XL, order 5512."),
        "assign": one("assign", "Charged twice for order 4410",
                      "My card was charged twice for order 4410. Please refund one payment."),
        "status": one("status", "Parcel never arrived",
                      "Order 9921 was marked delivered but nothing came. Where is it?"),
        "labels": one("labels", "Question about my invoice",
                      "Why is this month's invoice higher than the last one?"),
        "csrf": one("csrf", "Blender stopped working",
                    "The blender from order 3301 stopped after a week; the motor just hums."),
        "live": one("live", "Broken lamp",
                    f"The {LIVE_WORD} lamp from order 6620 arrived with a cracked shade."),
        "xss": _xss_mail(backend),
    }
    for n in range(BULK_CASES):
        key = f"bulk{n:02d}"
        mails[key] = one(key, f"Heating fault {n}",
                         f"The {BULK_WORD} I bought (order T{n:04d}) shows the wrong "
                         "temperature and the heating never switches off.")
    return mails


@dataclass
class Desk:
    """One filled database with its daemon and its `ingestd web`: what a browser test uses."""

    backend: str
    root: Path
    config: Path
    maildir: Path
    sink: SmtpSink
    base_url: str = ""
    refs: dict[str, str] = field(default_factory=dict)  # mail key -> case reference
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _delivered: int = 0

    # ---- the command line, as an admin would use it

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = run_cli(self.config, *args, stdin=stdin.encode() if stdin else None)
        assert done.returncode == 0, f"ingestd {' '.join(args)}: {done.stderr}"
        return done.stdout

    def case(self, ref: str) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(self.cli("cases", "show", ref, "--json"))
        return shown

    def cases(self, *args: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = json.loads(self.cli("cases", "list", "--json", *args))
        return listed

    # ---- mail in, mail out

    def deliver(self, raw: bytes) -> None:
        """A mail arrives in the support Maildir (tmp/ then new/, as an MTA delivers)."""
        self._delivered += 1
        name = f"{time.time():.0f}.{os.getpid()}_{self._delivered}.test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        tmp.rename(self.maildir / "new" / name)

    def customer_mail(self, key: str, subject: str, body: str,
                      in_reply_to: str | None = None) -> bytes:
        return mail(f"Customer {key} <{_address(key)}>", subject, body,
                    message_id=_message_id(f"{key}.{self._delivered}", self.backend),
                    in_reply_to=in_reply_to)

    @staticmethod
    def address(key: str) -> str:
        return _address(key)

    def message_id(self, key: str) -> str:
        return _message_id(key, self.backend)

    def mail_to(self, address: str, containing: str, timeout: float = 30.0) -> ReceivedMessage:
        """The first mail the sink got for `address` whose subject or text has `containing`."""
        def found() -> ReceivedMessage | None:
            for got in self.sink.messages:
                if address in got.rcpt_tos and containing in _subject_and_text(got):
                    return got
            return None
        return wait_for(found, timeout=timeout,
                        message=f"a mail to {address} containing {containing!r}")

    # ---- the daemon and the web server

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "ingestd", "--config", str(self.config), *args]
        with (self.root / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self._processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-4000:]

    def start_daemon(self) -> None:
        """`ingestd run`: watches the Maildir (every second) and sends the outbox."""
        self._spawn("daemon", "run")

    def start_web(self) -> None:
        for _attempt in range(3):  # a port taken between free_port() and the bind: try another
            port = free_port()
            web = self._spawn("web", "web", "--listen", f"{LOOPBACK}:{port}")
            self.base_url = f"http://{LOOPBACK}:{port}"
            if self._wait_healthy(web):
                return
            self.stop("web")
        pytest.fail(f"ingestd web did not answer /healthz; its output:\n{self.log('web')}",
                    pytrace=False)

    def _wait_healthy(self, web: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and web.poll() is None:
            with contextlib.suppress(OSError):
                if http_status(f"{self.base_url}/healthz") == 200:
                    return True
            time.sleep(0.1)
        return False

    def stop(self, name: str) -> None:
        process = self._processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for name in list(self._processes):
            self.stop(name)

    def url(self, path: str) -> str:
        return self.base_url + path


def _subject_and_text(got: ReceivedMessage) -> str:
    parts = [str(got.message["Subject"] or "")]
    for part in got.message.walk():
        if part.get_content_type() == "text/plain":
            parts.append(part.get_content())
    return "\n".join(parts)


def fill(backend: str, db_url: str, root: Path, sink: SmtpSink) -> Desk:
    """A database with the desk's cases, its users, a running daemon and the web server.

    The mail waits in the Maildir before the daemon starts; the users and the server start
    meanwhile (each `ingestd` spends most of its time starting up). The desk is ready once
    every customer has their acknowledgment."""
    maildir = root / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    config = write_config(root, ConfigSpec(db_url, maildirs={"support": maildir},
                                           smtp_port=sink.port,
                                           extra="[daemon]\npoll_interval = 1\n"))
    desk = Desk(backend, root, config, maildir, sink)
    desk.cli("db", "upgrade")
    mails = _mails(backend)
    for raw in mails.values():
        desk.deliver(raw)
    try:
        desk.start_daemon()
        with ThreadPoolExecutor(max_workers=1 + len(USERS)) as pool:
            jobs = [pool.submit(desk.start_web)]
            jobs += [pool.submit(desk.cli, "users", "add", name, "--email", address,
                                 "--role", role, stdin=PASSWORD + "\n")
                     for name, (address, role) in USERS.items()]
            for job in jobs:
                job.result()
        try:
            wait_for(lambda: all(_acknowledged(sink, _address(key)) for key in mails),
                     timeout=180, interval=0.2, message="every customer acknowledged")
        except AssertionError as late:
            raise AssertionError(f"{late}; the daemon said:\n{desk.log('daemon')}") from None
        desk.refs = {key: _acknowledged(sink, _address(key)) or "" for key in mails}
    except BaseException:
        desk.stop_all()
        raise
    return desk


def _acknowledged(sink: SmtpSink, address: str) -> str | None:
    """The reference of the case opened by `address`'s mail, read off its acknowledgment."""
    for got in sink.messages:
        tag = re.search(r"\[([A-Z]+-\d{4}-\d+)\]", str(got.message["Subject"] or ""))
        if address in got.rcpt_tos and tag:
            return tag.group(1)
    return None


@contextlib.contextmanager
def running_desk(backend: str, db_url: str, root: Path) -> Iterator[Desk]:
    """A filled desk with its web server and SMTP sink, stopped afterwards."""
    sink = SmtpSink()
    sink.start()
    desk: Desk | None = None
    try:
        desk = fill(backend, db_url, root, sink)
        yield desk
    finally:
        if desk is not None:
            desk.stop_all()
        sink.stop()


def require_chromium() -> str:
    """Debian's chromium, or a failed test saying how to install it (never a skip)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Debian's chromium is not installed ({CHROMIUM.name} missing): "
                    "install the Debian package chromium (bash .ci/setup does it)",
                    pytrace=False)
    return str(CHROMIUM)


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name


def http_status(url: str) -> int:
    """The status of a plain GET with no session (redirects are not followed)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port, timeout=5)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        return connection.getresponse().status
    finally:
        connection.close()
