"""Read a mailbox over IMAP, in batches, without touching its flags.

Folders are opened read-only (EXAMINE) and fetched with BODY.PEEK[], so the server keeps
every message unread and in place; where ingestd stands is kept in its own database.
"""

from __future__ import annotations

import shlex
import ssl
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from ingestd.config import MailboxConfig
from ingestd.errors import AuthenticationError, SourceError
from ingestd.sources.delivery import Delivery
from ingestd.transport import warn_plaintext

ClientFactory = Callable[[MailboxConfig], IMAPClient]


@dataclass(frozen=True)
class FolderBatch:
    """Up to batch_size new messages of one folder, and the UID they reach."""

    folder: str
    uidvalidity: int
    deliveries: list[Delivery]
    last_uid: int


def tls_context(config: MailboxConfig) -> ssl.SSLContext:
    """System trust plus the configured CA file; hostnames and certificates always checked."""
    context = ssl.create_default_context()
    if config.tls_ca_file is not None:
        context.load_verify_locations(cafile=str(config.tls_ca_file))
    return context


def connect_imap(config: MailboxConfig) -> IMAPClient:
    """Connect and log in as configured, or raise an error that says what to do."""
    where = f"mailbox {config.name!r} ({config.host}:{config.port}, security={config.security})"
    try:
        client = _open(config)
        _login(client, config)
    except LoginError as exc:
        raise AuthenticationError(
            f"{where}: the server refused the login for {config.username!r} ({_text(exc)}); "
            "check username and password or password_file") from None
    except ssl.SSLCertVerificationError as exc:
        raise SourceError(f"{where}: TLS certificate not trusted ({exc.verify_message}); "
                          "set tls_ca_file to the CA that signed it") from None
    except (OSError, IMAPClientError) as exc:
        raise SourceError(f"{where}: cannot connect: {_text(exc)}; check host, port, "
                          "security and that the server is up") from None
    return client


def _open(config: MailboxConfig) -> IMAPClient:
    if config.security == "tls":
        return IMAPClient(config.host, config.port, ssl=True, ssl_context=tls_context(config),
                          timeout=config.timeout)
    warn_plaintext(f"mailbox {config.name!r}", config.host, config.port, config.security)
    client = IMAPClient(config.host, config.port, ssl=False, timeout=config.timeout)
    if config.security == "starttls":
        client.starttls(tls_context(config))
    return client


def _login(client: IMAPClient, config: MailboxConfig) -> None:
    if config.auth == "xoauth2":
        client.oauth2_login(config.username, oauth2_token(config))
    else:
        client.login(config.username, config.secret())


def oauth2_token(config: MailboxConfig) -> str:
    """A fresh access token from the configured command (preferred) or file."""
    if config.oauth2_token_command:
        done = subprocess.run(shlex.split(config.oauth2_token_command), capture_output=True,  # noqa: S603  (the admin's own command)
                              text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise SourceError(f"mailbox {config.name!r}: oauth2_token_command failed "
                              f"(exit {done.returncode}): {done.stderr.strip()[:200]}")
        return done.stdout.strip()
    assert config.oauth2_token_file is not None  # noqa: S101  (checked by the config model)
    return config.oauth2_token_file.read_text(encoding="utf-8").strip()


def _utc(internaldate: datetime | None) -> datetime | None:
    """INTERNALDATE (imapclient gives local time without a zone) as an aware UTC time."""
    return None if internaldate is None else internaldate.astimezone(UTC)


def _text(exc: BaseException) -> str:
    parts = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in exc.args]
    return "; ".join(p for p in parts if p) or type(exc).__name__


class ImapSource:
    """One configured mailbox: its folders, fetched in bounded batches."""

    def __init__(self, config: MailboxConfig, factory: ClientFactory = connect_imap) -> None:
        self.config = config
        self._factory = factory
        self.client: IMAPClient | None = None

    def connect(self) -> IMAPClient:
        if self.client is None:
            self.client = self._factory(self.config)
        return self.client

    def close(self) -> None:
        if self.client is not None:
            with suppress(TimeoutError, OSError, IMAPClientError):
                self.client.logout()
            self.client = None

    def uidvalidity(self, folder: str) -> int:
        with self._talking(folder):
            info = self.connect().select_folder(folder, readonly=True)
            return int(info[b"UIDVALIDITY"])

    def new_batches(self, folder: str, last_uid: int) -> Iterator[FolderBatch]:
        """Messages with UID above `last_uid`, oldest first, batch_size at a time."""
        with self._talking(folder):
            client = self.connect()
            uidvalidity = int(client.select_folder(folder, readonly=True)[b"UIDVALIDITY"])
            uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        size = self.config.batch_size
        for start in range(0, len(uids), size):
            with self._talking(folder):
                pieces = _by_size(client, uids[start:start + size])
            for chunk in pieces:
                with self._talking(folder):
                    deliveries = self._fetch(client, folder, uidvalidity, chunk)
                yield FolderBatch(folder, uidvalidity, deliveries, chunk[-1])

    @contextmanager
    def _talking(self, folder: str) -> Iterator[None]:
        """A server that fails, hangs or hangs up mid-drain is one clear line, not a traceback."""
        try:
            yield
        except (OSError, IMAPClientError) as exc:
            broken, self.client = self.client, None  # the next connect() starts afresh
            if broken is not None:
                with suppress(OSError, IMAPClientError):
                    broken.shutdown()  # no LOGOUT: a hung server would make us wait again
            raise SourceError(
                f"mailbox {self.config.name!r}, folder {folder!r} ({self.config.host}:"
                f"{self.config.port}): the server failed during the drain: {_text(exc)}; "
                "every mail stored so far is kept, the next run goes on from there") from None

    def _fetch(self, client: IMAPClient, folder: str, uidvalidity: int,
               uids: list[int]) -> list[Delivery]:
        data: dict[int, dict[bytes, Any]] = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        return [Delivery(source=self.config.name, raw=bytes(data[uid][b"BODY[]"]), folder=folder,
                         uidvalidity=uidvalidity, uid=str(uid),
                         arrived_at=_utc(data[uid].get(b"INTERNALDATE")))
                for uid in uids if uid in data and b"BODY[]" in data[uid]]

    def supports_idle(self) -> bool:
        return bool(self.connect().has_capability("IDLE"))


FETCH_BYTES = 32 << 20  # of mail fetched at once: 500 mails of 25 MB are not held together


def _by_size(client: IMAPClient, uids: list[int]) -> list[list[int]]:
    """`uids` in runs of at most `FETCH_BYTES` of mail (a bigger mail runs alone), by the
    sizes the server reports."""
    sizes = client.fetch(uids, ["RFC822.SIZE"])
    pieces: list[list[int]] = [[]]
    total = 0
    for uid in uids:
        size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
        if pieces[-1] and total + size > FETCH_BYTES:
            pieces.append([])
            total = 0
        pieces[-1].append(uid)
        total += size
    return [piece for piece in pieces if piece]
