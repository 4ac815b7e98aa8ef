"""Deliver the outbox: bounded retries with exponential backoff, each row sent once.

Rows are claimed under a short lease (FOR UPDATE SKIP LOCKED on PostgreSQL), so several
instances share the outbox. Over SMTP the row is committed as sent after the server has the
whole message but before the final "." that makes it deliver: a crash in between leaves the
server with an unfinished transaction, which it discards, so a row is never sent twice;
that commit also carries the previous row's confirmation, so a batch over one connection
costs one commit a mail. In file mode each row is one file named by its id, written
atomically (retries overwrite), and a batch of files is marked sent in one commit once
the files and the folder are synced.
"""

from __future__ import annotations

import random
import smtplib
import ssl
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, load_only, sessionmaker

from ingestd.config import SmtpConfig
from ingestd.errors import StorageError
from ingestd.files import private_folder, sync, write_unsynced
from ingestd.instance import gone
from ingestd.transport import warn_plaintext
from storage import Outbox, transaction

log = structlog.get_logger("ingestd.sender")
CLAIM = timedelta(minutes=5)
BATCH = 200  # rows claimed, written or sent, and marked together
BATCH_BYTES = 16 << 20  # and no more of their mail than this in memory at once
SYNC_THREADS = 16  # file mode: fsyncs in flight at once
UNCONFIRMED = "unconfirmed: end of data not answered"
MAX_BACKOFF = timedelta(hours=6)


class PermanentFailure(Exception):
    """The server refused the mail for good (5xx): no retry helps."""


@dataclass
class SendStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def add(self, other: SendStats) -> None:
        self.sent, self.retried = self.sent + other.sent, self.retried + other.retried
        self.failed += other.failed


@dataclass(frozen=True)
class Claimed:
    """A row claimed for delivery, read in the transaction that claimed it."""

    id: int
    recipient: str
    raw: bytes


class Sender:
    """Delivers pending outbox rows through SMTP or into a folder of .eml files.

    Work goes by batches of claimed rows: in file mode the batch's files are written and
    made durable, then one transaction marks them all sent; over SMTP one connection carries
    the batch and each row's confirmation is committed with the next row's tentative mark.
    """

    def __init__(self, config: SmtpConfig, factory: sessionmaker[Session],
                 clock: Callable[[], datetime], owner: str,
                 on_sent: Callable[[Session, list[Outbox], datetime], None] | None = None,
                 ) -> None:
        self.config, self.factory, self.clock, self.owner = config, factory, clock, owner
        self.on_sent = on_sent  # told of delivered rows, in the transaction that marks them
        self._smtp: smtplib.SMTP | None = None
        self._confirmed: list[tuple[int, str]] = []  # SMTP answers not yet committed

    def deliver_pending(self, limit: int = BATCH) -> SendStats:
        stats = SendStats()
        try:
            with database_errors():
                more = True
                while more:
                    batch, more = self._claim(limit)
                    if not batch:
                        break
                    if self.config.mode == "file":
                        self._write_batch(batch, stats)
                    else:
                        self._send_all(batch, stats)
        finally:
            self.close()
        return stats

    def _claim(self, limit: int) -> tuple[list[Claimed], bool]:
        """Up to `limit` due rows, and no more of their bytes than BATCH_BYTES (one at least);
        with True when more may be waiting."""
        now = self.clock()
        with transaction(self.factory) as session:
            crashed = gone(session.scalars(select(Outbox.claimed_by).distinct().where(
                Outbox.state == "pending", Outbox.claimed_until >= now)))
            query = (select(Outbox.id, func.length(Outbox.raw)).where(
                Outbox.state == "pending", Outbox.next_attempt_at <= now,
                or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now,
                    Outbox.claimed_by.in_(crashed)))
                .order_by(Outbox.id).limit(limit).with_for_update(skip_locked=True))
            due = [(row_id, size) for row_id, size in session.execute(query)]
            ids = _within_bytes(due, BATCH_BYTES)
            if not ids:
                return [], False
            session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(
                claimed_by=self.owner, claimed_until=now + CLAIM))
            rows = session.execute(select(Outbox.id, Outbox.recipient, Outbox.raw)
                                   .where(Outbox.id.in_(ids)).order_by(Outbox.id))
            return [Claimed(*row) for row in rows], len(due) == limit or len(ids) < len(due)

    def _write_batch(self, batch: list[Claimed], stats: SendStats) -> None:
        """One file a row, named by its id and written atomically; the whole batch is on disk
        before the one commit that marks it sent. On a write error (a full disk) the batch is
        retried later: a retry overwrites its own file, so nothing is written twice."""
        folder = Path(self.config.path)
        try:
            written = _write_files(private_folder(folder), batch)
        except OSError as exc:
            self._fail([row.id for row in batch], f"{type(exc).__name__}: {exc}",
                       permanent=False, stats=stats)
            return
        self._record(written)
        stats.sent += len(written)

    def _send_all(self, batch: list[Claimed], stats: SendStats) -> None:
        try:
            for row in batch:
                self._send_one(row, stats)
        finally:
            self._record(self._confirmed)
            self._confirmed = []

    def _send_one(self, row: Claimed, stats: SendStats) -> None:
        try:
            self._smtp_send(row)
        except PermanentFailure as exc:
            self._fail([row.id], str(exc), permanent=True, stats=stats)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            self._fail([row.id], f"{type(exc).__name__}: {exc}", permanent=False, stats=stats)
        else:
            stats.sent += 1

    def _smtp_send(self, row: Claimed) -> None:
        """Sent once: the row is committed as (tentatively) sent before the final "."."""
        smtp = self._connection()
        sender = parseaddr(self.config.from_)[1]
        _check(smtp.mail(sender), "MAIL FROM")
        _check(smtp.rcpt(row.recipient), f"RCPT TO {row.recipient}")
        smtp.putcmd("data")
        _check(smtp.getreply(), "DATA", expect=354)
        body = smtplib.quotedata(row.raw.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape")
        smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        self._record(self._confirmed, tentative=row.id)
        self._confirmed = []
        try:
            smtp.send(b".\r\n")
            code, message = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            # The server may have the mail: retrying could send it twice, so it stays sent.
            self.close()
            log.warning("mail_unconfirmed", outbox_id=row.id, error=str(exc))
            self._confirmed.append(
                (row.id, f"unconfirmed: connection lost after end of data ({exc})"))
            return
        if code != 250:
            self._unmark(row.id)
            _check((code, message), "end of DATA")
        self._confirmed.append((row.id, f"{code} {message.decode(errors='replace')}"))

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

    def _record(self, confirmed: list[tuple[int, str]], *, tentative: int | None = None) -> None:
        """Mark rows sent in one transaction: the confirmed ones, told to `on_sent`, and over
        SMTP the row whose end of data goes next (sent for good unless refused)."""
        marks = confirmed + ([(tentative, UNCONFIRMED)] if tentative is not None else [])
        if not marks:
            return
        now = self.clock()
        with transaction(self.factory) as session:
            rows = {row.id: row for row in session.scalars(  # (not the mail itself)
                select(Outbox).options(load_only(Outbox.id, Outbox.kind, Outbox.case_id,
                                                 Outbox.state, Outbox.attempts))
                .where(Outbox.id.in_([row_id for row_id, _ in marks])))}
            for row_id, response in marks:
                row = rows[row_id]
                if row.state != "sent":
                    row.attempts += 1
                row.state, row.sent_at, row.response, row.claimed_until = (
                    "sent", now, response, None)
            if self.on_sent is not None and confirmed:
                self.on_sent(session, [rows[row_id] for row_id, _ in confirmed], now)
        for row_id, response in confirmed:
            log.info("mail_sent", outbox_id=row_id, response=response)

    def _unmark(self, row_id: int) -> None:
        """Undo a tentative "sent" the server refused; `_fail` then counts the attempt once."""
        with transaction(self.factory) as session:
            row = session.get(Outbox, row_id)
            assert row is not None  # noqa: S101  (read back in the transaction that claimed it)
            row.state, row.sent_at, row.attempts = "pending", None, max(row.attempts - 1, 0)

    def _fail(self, row_ids: list[int], error: str, *, permanent: bool,
              stats: SendStats) -> None:
        now = self.clock()
        with transaction(self.factory) as session:
            for row in session.scalars(select(Outbox).where(Outbox.id.in_(row_ids))):
                row.attempts, row.last_error, row.claimed_until = row.attempts + 1, error, None
                if permanent or row.attempts >= self.config.max_attempts:
                    row.state = "failed"
                    stats.failed += 1
                else:
                    row.next_attempt_at = now + backoff(self.config.backoff_seconds,
                                                        row.attempts)
                    stats.retried += 1
        for row_id in row_ids:
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


def _within_bytes(due: Sequence[tuple[int, int | None]], budget: int) -> list[int]:
    """The ids of the first rows whose sizes fit `budget`; the first row in any case."""
    ids: list[int] = []
    total = 0
    for row_id, size in due:
        total += size or 0
        if ids and total > budget:
            break
        ids.append(row_id)
    return ids


def _write_files(folder: Path, batch: list[Claimed]) -> list[tuple[int, str]]:
    """Write each row to a temporary file, make them durable together, then name them.

    The fsyncs run side by side (they wait on the disk, not the interpreter), so the file
    system commits a batch's files in a few journal writes instead of one each.
    """
    temps = [folder / f".{row.id:08d}.eml.tmp" for row in batch]
    for row, temp in zip(batch, temps, strict=True):
        write_unsynced(temp, row.raw)  # the customer's mail: owner only
    list(_syncing().map(sync, temps))
    written = []
    for row, temp in zip(batch, temps, strict=True):
        final = temp.replace(folder / f"{row.id:08d}.eml")
        written.append((row.id, f"written to {final.name}"))
    sync(folder)  # a file's own fsync does not cover its new name
    return written


_SYNC_POOL: list[ThreadPoolExecutor] = []


def _syncing() -> ThreadPoolExecutor:
    """The threads that fsync a batch's files, started once (per batch, their start cost
    more than the fsyncs)."""
    if not _SYNC_POOL:
        _SYNC_POOL.append(ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="fsync"))
    return _SYNC_POOL[0]


def _check(reply: tuple[int, bytes], what: str, expect: int = 250) -> None:
    code, message = reply
    if code == expect or (expect == 250 and code == 251):
        return
    text = f"{what}: {code} {message.decode(errors='replace')}"
    if 500 <= code < 600:
        raise PermanentFailure(text)
    raise smtplib.SMTPResponseException(code, text)
