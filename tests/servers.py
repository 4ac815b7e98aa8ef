"""Real-server fixtures for the ingestd test suite (a pytest plugin module).

Loaded from ``tests/conftest.py`` with ``pytest_plugins = ["tests.servers"]``.

Everything here starts a *real* server on a free loopback port and stops it again:

* ``dovecot`` / ``dovecot_tls`` (session): Dovecot IMAP servers (:class:`DovecotServer`).
* ``imap_account`` / ``imap_tls_account`` (function): a brand-new mailbox user (:class:`Account`).
* ``smtp_sink`` (function): an aiosmtpd server that records every message (:class:`SmtpSink`).
* ``pg_server`` (session): admin access to the local PostgreSQL (:class:`PgServer`).
* ``pg_url`` (session) / ``fresh_pg_url`` (function): a throw-away PostgreSQL database URL.
* ``db_url`` (function, parametrized ``sqlite`` / ``postgresql``): a fresh empty database URL.

A missing server binary or an unreachable PostgreSQL makes the test *fail*, never skip.
When the environment variable ``CI`` or ``INGESTD_STRICT_SKIPS`` is set, any skipped test
turns the whole run into a failure (see :func:`pytest_sessionfinish`).
"""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
MAIL_DOMAIN = "example.test"
DEFAULT_PASSWORD = "secret"
DEFAULT_MAILBOXES = ("support", "sales", "billing")
# Dovecot refuses UID 0 for mail access; this unprivileged uid/gid owns all test mail.
MAIL_UID = 5000
MAIL_GID = 5000
# Where Debian puts daemons; often not on a non-root PATH.
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")

_STRICT_SKIP_ENV = ("CI", "INGESTD_STRICT_SKIPS")


# --------------------------------------------------------------------------- generic helpers


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    interval: float = 0.01,
    message: str = "",
) -> T:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    Raises ``AssertionError`` (so pytest shows it as a test failure) after ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"condition not met within {timeout:.1f}s: {what}")
        time.sleep(interval)


def find_binary(name: str, package: str) -> str:
    """Locate a system binary on PATH or in the sbin directories; fail the test if missing."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    found = shutil.which(name, path=search)
    if found is None:
        pytest.fail(
            f"required program {name!r} not found on PATH or in {', '.join(_SBIN_DIRS)}: "
            f"install the Debian package {package} (bash .ci/setup does it)",
            pytrace=False,
        )
    return found


def _port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _imap_greeting(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _truthy_env(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


# --------------------------------------------------------------------------- TLS material


@dataclass(frozen=True)
class TLSMaterial:
    """Throw-away PKI: ``ca_file`` signed ``cert_file``; ``untrusted_ca_file`` did not."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    untrusted_ca_file: Path


def _openssl(*args: str) -> None:
    openssl = find_binary("openssl", "openssl")
    result = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} failed:\n{result.stderr}", pytrace=False)


def make_tls_material(directory: Path) -> TLSMaterial:
    """Create a CA, a server cert for 127.0.0.1/localhost signed by it, and a foreign CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")

    def make_ca(stem: str, name: str) -> Path:
        _openssl(
            "req", "-x509", *ec, "-days", "7", "-subj", f"/CN={name}",
            "-keyout", str(directory / f"{stem}.key"), "-out", str(directory / f"{stem}.pem"),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        return directory / f"{stem}.pem"

    ca_file = make_ca("ca", "ingestd test CA")
    untrusted_ca_file = make_ca("other-ca", "ingestd untrusted test CA")
    key_file = directory / "server.key"
    csr = directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _openssl("req", *ec, "-subj", "/CN=localhost", "-keyout", str(key_file), "-out", str(csr))
    cert_file = directory / "server.pem"
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_file),
        "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-days", "7",
        "-extfile", str(ext), "-out", str(cert_file),
    )  # fmt: skip
    return TLSMaterial(ca_file, cert_file, key_file, untrusted_ca_file)


# --------------------------------------------------------------------------- Dovecot (IMAP)


@dataclass(frozen=True)
class Account:
    """Credentials of one IMAP mailbox on a :class:`DovecotServer`.

    ``port`` is the plain/STARTTLS IMAP port; ``ssl_port`` (implicit TLS) and ``ca_file``
    are set only for accounts on the TLS server.
    """

    host: str
    port: int
    username: str
    password: str
    ssl_port: int | None = None
    ca_file: str | None = None

    @property
    def address(self) -> str:
        """The e-mail address of the mailbox (same as the login name)."""
        return self.username


MessageLike = bytes | str | email.message.Message


def _as_bytes(message: MessageLike) -> bytes:
    if isinstance(message, email.message.Message):
        return message.as_bytes(policy=email.policy.SMTP)
    if isinstance(message, str):
        message = message.encode("utf-8")
    # IMAP wants CRLF line ends; normalise bare LF.
    return re.sub(rb"(?<!\r)\n", b"\r\n", message)


_APPENDUID = re.compile(rb"APPENDUID (\d+) ([0-9:,]+)")


def _parse_uid_set(uid_set: bytes) -> list[int]:
    uids: list[int] = []
    for part in uid_set.split(b","):
        low, _, high = part.partition(b":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids


_DOVECOT_CONF = """\
# Generated by tests/servers.py for one test session.
protocols = imap
listen = {host}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0 secs
auth_verbose = yes
mail_location = maildir:~/Maildir
mail_fsync = never
first_valid_uid = 1000
imap_idle_notify_interval = 1 secs
protocol imap {{
  mail_max_userip_connections = 1000
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
# No per-IP brute-force penalty: tests log in with wrong passwords on purpose.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
  }}
}}
"""


class DovecotServer:
    """A Dovecot IMAP server run in the foreground (``dovecot -F``) under a temp directory.

    Attributes: ``host``, ``port`` (IMAP, STARTTLS when TLS is on), ``ssl_port`` (implicit
    TLS, ``None`` for the plain server), ``tls`` (:class:`TLSMaterial` or ``None``),
    ``ca_file`` / ``untrusted_ca_file`` (``str`` or ``None``), ``root`` (temp dir),
    ``config_file``, ``log_file``, ``support`` / ``sales`` / ``billing`` (shared accounts).
    """

    append_chunk = 200  # messages per MULTIAPPEND command

    def __init__(self, root: Path, tls: TLSMaterial | None = None) -> None:
        self.dovecot = find_binary("dovecot", "dovecot-imapd")
        self.root = root
        self.host = LOOPBACK
        self.port = free_port()
        self.tls = tls
        self.ssl_port = free_port() if tls else None
        self.ca_file = str(tls.ca_file) if tls else None
        self.untrusted_ca_file = str(tls.untrusted_ca_file) if tls else None
        self.config_file = root / "dovecot.conf"
        self.log_file = root / "dovecot.log"
        self.users_dir = root / "users"
        self.mail_root = root / "mail"
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None

        # The auth process runs as user "dovecot": every directory up to the passwd-file
        # must be traversable, and mail homes must belong to the unprivileged mail user.
        root.chmod(0o755)
        for sub in ("run", "state"):
            (root / sub).mkdir(exist_ok=True)
        self.mail_root.mkdir(exist_ok=True)
        os.chown(self.mail_root, MAIL_UID, MAIL_GID)
        self.users_dir.mkdir(exist_ok=True)
        self.users_dir.chmod(0o755)
        self._write_config()
        accounts = {name: self.add_user(f"{name}@{MAIL_DOMAIN}") for name in DEFAULT_MAILBOXES}
        self.support = accounts["support"]
        self.sales = accounts["sales"]
        self.billing = accounts["billing"]

    # ---- configuration and users

    def _write_config(self) -> None:
        ssl_files = ""
        if self.tls:
            ssl_files = f"ssl_cert = <{self.tls.cert_file}\nssl_key = <{self.tls.key_file}"
        self.config_file.write_text(
            _DOVECOT_CONF.format(
                host=self.host,
                root=self.root,
                ssl="yes" if self.tls else "no",
                ssl_files=ssl_files,
                users=self.users_dir / "%u",
                port=self.port,
                ssl_port=self.ssl_port or 0,
            )
        )

    def _write_user(self, username: str, password: str) -> None:
        # One passwd-file per user: Dovecot re-stats a passwd-file at most once a second,
        # so appending to a shared file would hide new users for up to a second; a new
        # file is read at its first lookup.
        line = (
            f"{username}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_GID}::{self.mail_root / username}\n"
        )
        tmp = self.users_dir / f".{username}.tmp"
        tmp.write_text(line)
        tmp.chmod(0o644)
        tmp.replace(self.users_dir / username)

    def account(self, username: str) -> Account:
        """The :class:`Account` of an existing user."""
        return Account(
            host=self.host,
            port=self.port,
            username=username,
            password=self._users[username],
            ssl_port=self.ssl_port,
            ca_file=self.ca_file,
        )

    def add_user(self, username: str, password: str = DEFAULT_PASSWORD) -> Account:
        """Add (or re-password) a user; usable immediately, no restart needed."""
        if ":" in username or ":" in password or "\n" in username + password:
            raise ValueError("user names and passwords must not contain ':' or newlines")
        if "/" in username or username.startswith("."):
            raise ValueError(f"bad user name {username!r}")
        with self._lock:
            self._users[username] = password
            self._write_user(username, password)
        return self.account(username)

    def new_user(self, prefix: str = "user", password: str = DEFAULT_PASSWORD) -> Account:
        """Create a mailbox user with a unique name (``{prefix}-N-xxxxxx@example.test``)."""
        name = f"{prefix}-{next(self._counter)}-{secrets.token_hex(3)}@{MAIL_DOMAIN}"
        return self.add_user(name, password)

    @property
    def users(self) -> dict[str, str]:
        """Copy of ``{username: password}`` for every configured user."""
        with self._lock:
            return dict(self._users)

    # ---- process control

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The master process (its children serve the connections), for CPU accounting."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self, timeout: float = 15.0) -> None:
        """Start Dovecot (same ports, same mail) and wait until it greets on every port."""
        if self.running:
            return
        with self.log_file.open("ab") as log:
            log.write(b"--- tests/servers.py: starting dovecot\n")
        self._proc = subprocess.Popen(
            [self.dovecot, "-F", "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "dovecot.stderr").open("ab"),
            start_new_session=True,
        )
        ports = [p for p in (self.port, self.ssl_port) if p]
        deadline = time.monotonic() + timeout
        while not (
            _imap_greeting(self.host, self.port) and all(_port_accepts(self.host, p) for p in ports)
        ):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"dovecot did not start on {self.host}:{ports}.\n"
                    f"stderr: {(self.root / 'dovecot.stderr').read_text(errors='replace')}\n"
                    f"log:\n{self.log_text()[-4000:]}",
                    pytrace=False,
                )
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0, *, kill: bool = False) -> None:
        """Stop Dovecot; connected clients are dropped.

        Default: SIGTERM, a clean shutdown (takes ~1 s; SIGKILL after ``timeout``).
        ``kill=True``: SIGKILL to all Dovecot processes at once, like a crash (fast).
        """
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Make sure the ports are really closed before reporting "stopped".
        wait_for(
            lambda: not _port_accepts(self.host, self.port),
            timeout,
            message=f"dovecot port {self.port} still open after stop",
        )

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again on the same ports; mail is kept."""
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop(kill=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        """Everything Dovecot logged so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- IMAP client helpers

    def ssl_context(self, *, trusted: bool = True) -> ssl.SSLContext:
        """Client context trusting this server's CA (``trusted=False``: the foreign CA)."""
        if self.tls is None:
            raise RuntimeError("this Dovecot instance has no TLS")
        cafile = self.tls.ca_file if trusted else self.tls.untrusted_ca_file
        return ssl.create_default_context(cafile=str(cafile))

    def connect(self, account: Account, *, timeout: float = 10.0) -> Any:
        """A logged-in ``imapclient.IMAPClient`` (implicit TLS on the TLS server).

        Use as ``with server.connect(acct) as imap: ...`` (logs out at the end).
        """
        import imapclient  # noqa: PLC0415  (keeps the pytest plugin import light)

        if self.tls is not None:
            client = imapclient.IMAPClient(
                self.host, self.ssl_port, ssl=True, ssl_context=self.ssl_context(),
                timeout=timeout,
            )  # fmt: skip
        else:
            client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        client.login(account.username, account.password)
        return client

    def append(
        self,
        account: Account,
        messages: MessageLike | Sequence[MessageLike],
        folder: str = "INBOX",
        *,
        flags: Iterable[str] = (),
        msg_time: Any = None,
    ) -> list[int]:
        """Append one or many messages over a single IMAP connection; return their UIDs.

        ``folder`` is created when missing.
        """
        batch = (
            [messages]
            if isinstance(messages, bytes | str | email.message.Message)
            else list(messages)
        )
        flag_list = list(flags)
        uids: list[int] = []
        with self.connect(account) as imap:
            if folder.upper() != "INBOX" and not imap.folder_exists(folder):
                imap.create_folder(folder)
            # MULTIAPPEND (RFC 3502): one round trip per chunk, ~10x faster than APPENDs.
            for start in range(0, len(batch), self.append_chunk):
                items: list[dict[str, Any]] = []
                for message in batch[start : start + self.append_chunk]:
                    item: dict[str, Any] = {"msg": _as_bytes(message)}
                    if flag_list:
                        item["flags"] = flag_list
                    if msg_time is not None:
                        item["date"] = msg_time
                    items.append(item)
                _typ, data = imap.multiappend(folder, items)
                match = _APPENDUID.search(b" ".join(data))
                if match:
                    uids.extend(_parse_uid_set(match.group(2)))
        return uids

    def create_folder(self, account: Account, folder: str) -> None:
        with self.connect(account) as imap:
            imap.create_folder(folder)

    def delete_folder(self, account: Account, folder: str) -> None:
        with self.connect(account) as imap:
            imap.delete_folder(folder)

    def folders(self, account: Account) -> list[str]:
        with self.connect(account) as imap:
            return [name for _flags, _sep, name in imap.list_folders()]

    def uidvalidity(self, account: Account, folder: str = "INBOX") -> int:
        with self.connect(account) as imap:
            status = imap.folder_status(folder, [b"UIDVALIDITY"])
            return int(status[b"UIDVALIDITY"])

    def fetch_all(self, account: Account, folder: str = "INBOX") -> dict[int, bytes]:
        """``{uid: raw RFC 822 bytes}`` of every message in ``folder``."""
        with self.connect(account) as imap:
            imap.select_folder(folder, readonly=True)
            uids = imap.search("ALL")
            if not uids:
                return {}
            data = imap.fetch(uids, [b"BODY.PEEK[]"])
            return {int(uid): item[b"BODY[]"] for uid, item in data.items()}

    def reset_uidvalidity(self, account: Account, folder: str = "INBOX") -> int:
        """Give ``folder`` a new UIDVALIDITY, keeping its messages; return the new value.

        Works on INBOX too (via ``doveadm mailbox update``), while the server runs.
        Clients that have the folder selected get disconnected by Dovecot.
        """
        doveadm = find_binary("doveadm", "dovecot-core")
        old = self.uidvalidity(account, folder)
        new = old + 1 if old < 0xFFFFFFFF else 1
        result = subprocess.run(
            [
                doveadm, "-c", str(self.config_file), "mailbox", "update",
                "-u", account.username, "--uid-validity", str(new), folder,
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"doveadm mailbox update failed: {result.stderr}")
        current = self.uidvalidity(account, folder)
        if current == old:
            raise RuntimeError(f"UIDVALIDITY of {folder} did not change ({old})")
        return current


def _start_dovecot(tls: bool) -> DovecotServer:
    # Not pytest's tmp_path: its parents are 0700 and the dovecot auth user must traverse.
    root = Path(tempfile.mkdtemp(prefix="ingestd-dovecot-"))
    try:
        material = make_tls_material(root / "tls") if tls else None
        server = DovecotServer(root, material)
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """Plain-text Dovecot IMAP server (no TLS) for the whole session."""
    server = _start_dovecot(tls=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[DovecotServer]:
    """Dovecot with TLS: ``ssl_port`` (implicit TLS) and STARTTLS on ``port``."""
    server = _start_dovecot(tls=True)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> Account:
    """A fresh, empty mailbox on the plain ``dovecot`` server."""
    return dovecot.new_user()


@pytest.fixture
def imap_tls_account(dovecot_tls: DovecotServer) -> Account:
    """A fresh, empty mailbox on the ``dovecot_tls`` server."""
    return dovecot_tls.new_user()


# --------------------------------------------------------------------------- SMTP sink


@dataclass(frozen=True)
class ReceivedMessage:
    """One message accepted by :class:`SmtpSink`."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: email.message.Message
    auth_user: str | None = None


@dataclass
class _SinkState:
    messages: list[ReceivedMessage] = field(default_factory=list)
    refused: int = 0


class SmtpSink:
    """An aiosmtpd server on a free loopback port that keeps every message it accepts.

    * ``host``, ``port``; ``username`` / ``password``: credentials accepted by AUTH
      PLAIN/LOGIN (offered without TLS; AUTH is optional unless ``auth_required=True``).
    * ``messages``: snapshot list of :class:`ReceivedMessage`; ``wait_for(n, timeout)``.
    * ``refusing = True`` refuses every transaction with ``refuse_code`` (451) until reset;
      ``refuse_next(n)`` refuses only the next ``n``. ``refuse_stage`` is ``"data"``
      (default: reply to the end of DATA), ``"rcpt"`` or ``"mail"``. ``refused`` counts them.
    * ``stop()`` / ``start()``: server down, then up again on the same port.
    """

    username = "sink-user"
    password = "sink-password"

    def __init__(self, host: str = LOOPBACK, port: int | None = None, *,
                 auth_required: bool = False) -> None:  # fmt: skip
        self.host = host
        self.port = port or free_port(host)
        self.auth_required = auth_required
        self.refusing = False
        self.refuse_code = 451
        self.refuse_stage = "data"
        self._refuse_remaining = 0
        self._state = _SinkState()
        self._cond = threading.Condition()
        self._controller: Any = None

    # ---- aiosmtpd handler hooks (run in the controller's event-loop thread)

    def _refusal(self, stage: str) -> str | None:
        with self._cond:
            if stage != self.refuse_stage:
                return None
            if self.refusing or self._refuse_remaining > 0:
                self._refuse_remaining = max(0, self._refuse_remaining - 1)
                self._state.refused += 1
                return f"{self.refuse_code} 4.3.0 Test sink refuses temporarily, try again later"
        return None

    async def handle_MAIL(  # noqa: N802  (aiosmtpd names its hooks so)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self._refusal("mail")
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802  (aiosmtpd names its hooks so)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self._refusal("rcpt")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802  (aiosmtpd names its hooks so)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        refusal = self._refusal("data")
        if refusal:
            return refusal
        raw: bytes = envelope.original_content or envelope.content
        auth = getattr(session, "auth_data", None)
        login = getattr(auth, "login", None)
        received = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=raw,
            message=email.message_from_bytes(raw, policy=email.policy.default),
            auth_user=login.decode() if isinstance(login, bytes) else login,
        )
        with self._cond:
            self._state.messages.append(received)
            self._cond.notify_all()
        return "250 2.0.0 Message accepted for delivery"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415  (loaded where used, after the test has set up)

        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.username.encode()
            and auth_data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # ---- control

    def start(self) -> None:
        from aiosmtpd.controller import Controller  # noqa: PLC0415  (loaded where used, after the test has set up)

        if self._controller is not None:
            return
        controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_required=self.auth_required,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def refuse_next(self, n: int = 1) -> None:
        """Refuse the next ``n`` transactions with ``refuse_code`` (4xx by default)."""
        with self._cond:
            self._refuse_remaining = n

    @property
    def refused(self) -> int:
        with self._cond:
            return self._state.refused

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._cond:
            return list(self._state.messages)

    def clear(self) -> None:
        with self._cond:
            self._state.messages.clear()

    def wait_for(self, n: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Wait until at least ``n`` messages arrived; return them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._state.messages) >= n, timeout):
                raise AssertionError(
                    f"SMTP sink got {len(self._state.messages)} message(s) "
                    f"within {timeout:.1f}s, expected {n}"
                )
            return list(self._state.messages)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running :class:`SmtpSink` for one test."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


# --------------------------------------------------------------------------- PostgreSQL


class PgServer:
    """Admin access to the local PostgreSQL; creates and drops throw-away databases.

    Host/port default to 127.0.0.1:5432 (env ``INGESTD_TEST_PG_HOST`` / ``_PORT``);
    the user is ``INGESTD_TEST_PG_USER`` or the first of ``postgres``, ``root`` that works.
    """

    prefix = "ingestd_t_"

    def __init__(self) -> None:
        import psycopg  # noqa: PLC0415  (loaded where used, after the test has set up)

        self.host = os.environ.get("INGESTD_TEST_PG_HOST", LOOPBACK)
        self.port = int(os.environ.get("INGESTD_TEST_PG_PORT", "5432"))
        wanted = os.environ.get("INGESTD_TEST_PG_USER")
        candidates = [wanted] if wanted else ["postgres", "root"]
        errors: list[str] = []
        for user in candidates:
            for dbname in ("postgres", "template1"):
                try:
                    conn = psycopg.connect(
                        host=self.host, port=self.port, user=user, dbname=dbname,
                        autocommit=True, connect_timeout=5,
                    )  # fmt: skip
                except psycopg.OperationalError as exc:
                    errors.append(f"{user}@{dbname}: {str(exc).strip()}")
                    continue
                self.user = user
                self._conn = conn
                self._lock = threading.Lock()
                self._drop_leftovers()
                return
        pytest.fail(
            f"PostgreSQL is not reachable at {self.host}:{self.port} "
            "(needs trust auth for user postgres or root; run bash .ci/setup).\n"
            + "\n".join(errors),
            pytrace=False,
        )

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def exists(self, dbname: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
        return row is not None

    def create_database(self) -> str:
        """Create an empty database with a unique name; return its name."""
        name = f"{self.prefix}{os.getpid()}_{secrets.token_hex(4)}"
        with self._lock:
            self._conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, dbname: str) -> None:
        """Drop a database, disconnecting anyone still connected to it."""
        with self._lock:
            self._conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """Context manager yielding the URL of a database that is dropped afterwards."""
        name = self.create_database()
        try:
            yield self.url(name)
        finally:
            self.drop_database(name)

    def _drop_leftovers(self) -> None:
        """Drop databases left by earlier test processes that died (their pid is gone)."""
        rows = self._conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (self.prefix + "%",)
        ).fetchall()
        for (name,) in rows:
            match = re.fullmatch(rf"{self.prefix}(\d+)_[0-9a-f]+", name)
            if match and not _pid_alive(int(match.group(1))):
                with contextlib.suppress(Exception):
                    self.drop_database(name)

    def close(self) -> None:
        self._conn.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """URL of a throw-away PostgreSQL database shared by the whole session."""
    with pg_server.database() as url:
        yield url


@pytest.fixture
def fresh_pg_url(pg_server: PgServer) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database for this test only."""
    with pg_server.database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL; every test using it runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingestd.sqlite3'}"
    url: str = request.getfixturevalue("fresh_pg_url")
    return url


# --------------------------------------------------------------------------- strict skips


def _strict_skips() -> bool:
    return any(_truthy_env(name) for name in _STRICT_SKIP_ENV)


class _StrictSkips:
    """With ``CI`` or ``INGESTD_STRICT_SKIPS`` set, any skipped test fails the run."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def _record(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if _strict_skips() and self.skipped and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not (_strict_skips() and self.skipped):
            return
        terminalreporter.write_sep("=", "skipped tests fail this run", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(self.skipped)} test(s) skipped while CI or INGESTD_STRICT_SKIPS is set; "
            "every test must run (install what is missing with: bash .ci/setup)",
            red=True,
        )
        for nodeid in self.skipped:
            terminalreporter.write_line(f"  SKIPPED {nodeid}", red=True)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_StrictSkips(), "ingestd-strict-skips")
