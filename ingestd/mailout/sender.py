"""Deliver the outbox: bounded retries with exponential backoff, each row sent once.

Rows are claimed under a short lease (FOR UPDATE SKIP LOCKED on PostgreSQL), so several
instances share the outbox. Over SMTP the row is committed as sent after the server has the
whole message but before the final "." that makes it deliver: a crash in between leaves the
server with an unfinished transaction, which it discards, so a row is never sent twice.
In file mode each row is one file named by its id, written atomically: retries overwrite.
"""

from __future__ import annotations

import random
import smtplib
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

import structlog
from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ingestd.config import SmtpConfig
from ingestd.errors import StorageError
from ingestd.files import write_private
from ingestd.instance import gone
from ingestd.transport import warn_plaintext
from storage import Outbox, transaction

log = structlog.get_logger("ingestd.sender")
CLAIM = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)


class PermanentFailure(Exception):
    """The server refused the mail for good (5xx): no retry helps."""


@dataclass
class SendStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class Sender:
    """Delivers pending outbox rows through SMTP or into a folder of .eml files."""

    def __init__(self, config: SmtpConfig, factory: sessionmaker[Session],
                 clock: Callable[[], datetime], owner: str,
                 on_sent: Callable[[Session, Outbox, datetime], None] | None = None) -> None:
        self.config, self.factory, self.clock, self.owner = config, factory, clock, owner
        self.on_sent = on_sent  # told of each delivered row, in the transaction that marks it
        self._smtp: smtplib.SMTP | None = None

    def deliver_pending(self, limit: int = 100) -> SendStats:
        stats = SendStats()
        try:
            with database_errors():
                while rows := self._claim(limit):
                    for row_id in rows:
                        self._deliver(row_id, stats)
                    if len(rows) < limit:
                        break
        finally:
            self.close()
        return stats

    def _claim(self, limit: int) -> Sequence[int]:
        now = self.clock()
        with transaction(self.factory) as session:
            crashed = gone(session.scalars(select(Outbox.claimed_by).distinct().where(
                Outbox.state == "pending", Outbox.claimed_until >= now)))
            rows = session.scalars(select(Outbox).where(
                Outbox.state == "pending", Outbox.next_attempt_at <= now,
                or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now,
                    Outbox.claimed_by.in_(crashed)))
                .order_by(Outbox.id).limit(limit).with_for_update(skip_locked=True)).all()
            for row in rows:
                row.claimed_by, row.claimed_until = self.owner, now + CLAIM
            return [row.id for row in rows]

    def _deliver(self, row_id: int, stats: SendStats) -> None:
        with self.factory() as session:
            row = session.get(Outbox, row_id)
            assert row is not None  # noqa: S101  (claimed by us a moment ago)
            recipient, raw = row.recipient, row.raw
        try:
            response = self._send(row_id, recipient, raw)
        except PermanentFailure as exc:
            self._fail(row_id, str(exc), permanent=True, stats=stats)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            self._fail(row_id, f"{type(exc).__name__}: {exc}", permanent=False, stats=stats)
        else:
            if response is not None:
                self._mark_sent(row_id, response)
            stats.sent += 1

    def _send(self, row_id: int, recipient: str, raw: bytes) -> str | None:
        """The server's answer to record, or None when the row was already marked sent."""
        if self.config.mode == "file":
            return self._write_file(row_id, raw)
        self._smtp_send(row_id, recipient, raw)
        return None

    def _write_file(self, row_id: int, raw: bytes) -> str:
        final = write_private(Path(self.config.path) / f"{row_id:08d}.eml", raw)
        return f"written to {final.name}"

    def _smtp_send(self, row_id: int, recipient: str, raw: bytes) -> None:
        smtp = self._connection()
        sender = parseaddr(self.config.from_)[1]
        _check(smtp.mail(sender), "MAIL FROM")
        _check(smtp.rcpt(recipient), f"RCPT TO {recipient}")
        smtp.putcmd("data")
        _check(smtp.getreply(), "DATA", expect=354)
        body = smtplib.quotedata(raw.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape")
        smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        self._mark_sent(row_id, "unconfirmed: end of data not answered", tentative=True)
        try:
            smtp.send(b".\r\n")
            code, message = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            # The server may have the mail: retrying could send it twice, so it stays sent.
            self.close()
            log.warning("mail_unconfirmed", outbox_id=row_id, error=str(exc))
            self._mark_sent(row_id, f"unconfirmed: connection lost after end of data ({exc})")
            return
        if code != 250:
            self._unmark(row_id)
            _check((code, message), "end of DATA")
        self._mark_sent(row_id, f"{code} {message.decode(errors='replace')}")

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        cfg = self.config
        cafile = str(cfg.tls_ca_file) if cfg.tls_ca_file else None
        context = ssl.create_default_context(cafile=cafile)
        if cfg.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                                  context=context)
        else:
            warn_plaintext("smtp", cfg.host, cfg.port, cfg.security)
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.security == "starttls":
                smtp.starttls(context=context)
        smtp.ehlo_or_helo_if_needed()
        if cfg.username:
            smtp.login(cfg.username, cfg.secret() or "")
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        if self._smtp is not None:
            with suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None

    def _mark_sent(self, row_id: int, response: str, *, tentative: bool = False) -> None:
        now = self.clock()
        with transaction(self.factory) as session:
            row = session.get(Outbox, row_id)
            assert row is not None  # noqa: S101  (read back in the transaction that claimed it)
            if row.state != "sent":
                row.attempts += 1
            row.state, row.sent_at, row.response, row.claimed_until = "sent", now, response, None
            if not tentative and self.on_sent is not None:
                self.on_sent(session, row, now)
        if not tentative:
            log.info("mail_sent", outbox_id=row_id, response=response)

    def _unmark(self, row_id: int) -> None:
        """Undo a tentative "sent" the server refused; `_fail` then counts the attempt once."""
        with transaction(self.factory) as session:
            row = session.get(Outbox, row_id)
            assert row is not None  # noqa: S101  (read back in the transaction that claimed it)
            row.state, row.sent_at, row.attempts = "pending", None, max(row.attempts - 1, 0)

    def _fail(self, row_id: int, error: str, *, permanent: bool, stats: SendStats) -> None:
        now = self.clock()
        with transaction(self.factory) as session:
            row = session.get(Outbox, row_id)
            assert row is not None  # noqa: S101  (read back in the transaction that claimed it)
            row.attempts, row.last_error, row.claimed_until = row.attempts + 1, error, None
            if permanent or row.attempts >= self.config.max_attempts:
                row.state = "failed"
                stats.failed += 1
            else:
                row.next_attempt_at = now + backoff(self.config.backoff_seconds, row.attempts)
                stats.retried += 1
        log.warning("mail_not_sent", outbox_id=row_id, error=error, permanent=permanent)


@contextmanager
def database_errors() -> Iterator[None]:
    """A lost database connection or a full disk ends the run with one line, no traceback.

    Whatever was committed stays; whatever was not is done again by the next run.
    """
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "no detail"
        raise StorageError(f"database error ({type(exc.orig).__name__}: {reason}); nothing "
                           "committed is lost: run again once the database is back") from None


def backoff(base_seconds: float, attempts: int) -> timedelta:
    """Exponential backoff with jitter: base, 2 x base, 4 x base... capped at six hours."""
    delay = min(base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311  (jitter, not crypto)


def _check(reply: tuple[int, bytes], what: str, expect: int = 250) -> None:
    code, message = reply
    if code == expect or (expect == 250 and code == 251):
        return
    text = f"{what}: {code} {message.decode(errors='replace')}"
    if 500 <= code < 600:
        raise PermanentFailure(text)
    raise smtplib.SMTPResponseException(code, text)
