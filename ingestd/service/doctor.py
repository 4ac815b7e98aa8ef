"""`ingestd doctor`: check everything the daemon needs before it is started.

Each check gives one line: what was checked, ok or FAIL, and on failure what to do. A
failing check never hides the others (an unreachable mailbox still lets SMTP be checked),
except that nothing can be checked without a readable configuration. Doctor only looks: it
creates no database, no folder and no file (a SQLite database is opened read-only).
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imapclient.exceptions import IMAPClientError
from sqlalchemy import URL, Engine, create_engine, make_url

from ingestd import config
from ingestd.config import MailboxConfig, Settings, SmtpConfig
from ingestd.errors import IngestdError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def run_checks(config_file: str | None) -> list[Check]:
    """Every check, in the order a person would fix things."""
    try:
        settings = config.load(config_file)
    except IngestdError as exc:
        return [Check("config", False, str(exc))]
    checks = [Check("config", True, str(settings.path))]
    checks.append(_guard("database", lambda: check_database(settings)))
    for mailbox in settings.mailbox:
        checks.extend(check_mailbox(mailbox, settings.daemon.poll_interval))
    for maildir in settings.maildir:
        ok = maildir.path.is_dir() and (maildir.path / "new").is_dir()
        checks.append(Check(f"maildir {maildir.name}", ok, str(maildir.path) if ok else
                            f"{maildir.path} is not a Maildir (needs new/ and cur/); "
                            "fix [[maildir]] path"))
    checks.append(_guard("smtp", lambda: check_smtp(settings.smtp)))
    checks.append(_guard("templates", lambda: check_templates(settings)))
    checks.append(_guard("model", lambda: check_model(settings)))
    return checks


def _guard(name: str, check: Callable[[], str]) -> Check:
    """Run one check; an IngestdError or an unexpected failure becomes its FAIL line."""
    try:
        return Check(name, True, check())
    except IngestdError as exc:
        return Check(name, False, str(exc))
    except Exception as exc:  # noqa: BLE001  (doctor reports every failure as a line)
        return Check(name, False, f"{type(exc).__name__}: {exc}")


def check_database(settings: Settings) -> str:
    from storage import is_current  # noqa: PLC0415  (each check loads what it checks)

    engine = _looking_engine(settings.database.url)
    url = engine.url.render_as_string(hide_password=True)
    try:
        current = is_current(engine)
    except Exception as exc:  # noqa: BLE001  (any driver error: one line)
        raise IngestdError(f"{url}: cannot connect ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0]}); check [database] url") from None
    finally:
        engine.dispose()
    if not current:
        raise IngestdError(f"{url}: schema is not up to date; run: ingestd db upgrade")
    return f"{url} (schema up to date)"


def _looking_engine(url: str) -> Engine:
    """An engine that cannot create or change the database: SQLite is opened read-only."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return create_engine(parsed)
    path = Path(parsed.database or "")
    if not path.is_file():
        raise IngestdError(f"no SQLite database at {path} yet; run: ingestd db upgrade")
    return create_engine(URL.create("sqlite", database=f"file:{quote(str(path))}",
                                    query={"mode": "ro", "uri": "true"}))


def check_mailbox(mailbox: MailboxConfig, poll_interval: float) -> Iterator[Check]:
    """Login (with TLS verification), the folders, IDLE and the certificate's lifetime."""
    from ingestd.sources.imap import connect_imap  # noqa: PLC0415  (each check loads what it checks)

    name = f"mailbox {mailbox.name}"
    try:
        client = connect_imap(mailbox)
    except IngestdError as exc:
        yield Check(name, False, str(exc))
        return
    try:
        yield Check(name, True, f"logged in as {mailbox.username} at {mailbox.host}:"
                                f"{mailbox.port} ({mailbox.security}{_cert_note(client)})")
        for folder in mailbox.folders:
            exists = client.folder_exists(folder)
            yield Check(f"{name} folder {folder}", exists, "exists" if exists else
                        "no such folder on the server; fix folders = [...] in [[mailbox]]")
        idle = bool(client.has_capability("IDLE"))
        yield Check(f"{name} idle", True, "server offers IDLE" if idle and mailbox.idle else
                    f"no IDLE: polling every {poll_interval:g} s")
    except (OSError, IMAPClientError) as exc:
        yield Check(name, False, f"the server broke off: {exc}; check that it is healthy")
    finally:
        with contextlib.suppress(OSError, IMAPClientError):
            client.logout()


def _cert_note(client: Any) -> str:
    """', certificate valid N more days' on a TLS connection (it was verified on connect)."""
    try:
        sock = client.socket()
    except (AttributeError, OSError):
        return ""
    if not isinstance(sock, ssl.SSLSocket):
        return ""
    cert = sock.getpeercert() or {}
    expires = cert.get("notAfter")
    if not isinstance(expires, str):
        return ", certificate verified"
    days = int((ssl.cert_time_to_seconds(expires) - time.time()) // 86400)
    return f", certificate verified, valid {days} more days"


def check_smtp(smtp: SmtpConfig) -> str:
    if smtp.mode == "file":
        return _check_outbox_folder(Path(smtp.path))
    where = f"{smtp.host}:{smtp.port} ({smtp.security})"
    context = ssl.create_default_context(
        cafile=str(smtp.tls_ca_file) if smtp.tls_ca_file else None)
    try:
        server = (smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
                  if smtp.security == "tls" else
                  smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout))
        with server:
            server.ehlo()
            if smtp.security == "starttls":
                server.starttls(context=context)
                server.ehlo()
            if smtp.username:
                server.login(smtp.username, smtp.secret() or "")
    except smtplib.SMTPAuthenticationError as exc:
        raise IngestdError(f"{where}: login refused for {smtp.username!r} ({exc.smtp_code}); "
                           "check [smtp] username and password") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise IngestdError(f"{where}: {type(exc).__name__}: {exc}; check [smtp] host, port "
                           "and security, and that the server is up") from None
    return f"{where}: EHLO ok" + (f", logged in as {smtp.username}" if smtp.username else "")


def _check_outbox_folder(folder: Path) -> str:
    """Writable now, or creatable by the sender (its nearest existing parent is writable)."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise IngestdError(f"file mode: cannot write {folder} ({existing} is not a folder this "
                           "user can write); fix [smtp] path or the folder's owner")
    if existing == folder:
        return f"file mode: {folder} is writable"
    return f"file mode: {folder} will be created (in {existing}, writable)"


def check_templates(settings: Settings) -> str:
    """Every kind of mail renders, so no customer's mail is quarantined for a template."""
    import jinja2  # noqa: PLC0415  (each check loads what it checks)

    from ingestd.mailout import KINDS, Composer  # noqa: PLC0415  (each check loads what it checks)

    folder = settings.templates
    if not folder.is_dir():
        raise IngestdError(f"{folder} is not a folder; fix `templates` in config.toml (or "
                           "remove it to use the shipped templates)")
    composer = Composer(folder, settings.smtp.from_, "doctor")
    kinds = sorted(set(KINDS) | {p.stem for p in folder.glob("*.txt")})
    for kind in kinds:
        try:
            composer.preview(kind)
        except jinja2.TemplateNotFound:
            raise IngestdError(f"{folder}: no {kind}.txt; copy it from the shipped templates "
                               "(or remove `templates` from config.toml)") from None
        except jinja2.TemplateSyntaxError as exc:
            raise IngestdError(f"{folder / (exc.name or kind)} line {exc.lineno}: "
                               f"{exc.message}; fix the template") from None
        except jinja2.TemplateError as exc:
            raise IngestdError(f"{folder}: {kind} does not render: {exc}; fix the "
                               "template") from None
    return f"{folder} ({len(kinds)} kinds render)"


def check_model(settings: Settings) -> str:
    from ingestd.services import ModelHolder  # noqa: PLC0415  (each check loads what it checks)

    path = settings.triage.model
    try:
        model = ModelHolder(path).get()
    except FileNotFoundError:
        raise IngestdError(f"{path} does not exist; run: ingestd train --promote "
                           "(or fix [triage] model)") from None
    unknown = sorted(set(model.categories) - set(settings.triage.categories))
    if unknown:
        raise IngestdError(f"{path} predicts categories that [triage] categories does not list "
                           f"({', '.join(unknown)}); add them to config.toml or train a model "
                           "on your taxonomy: ingestd train --from ... --promote")
    return f"{path} (version {getattr(model, 'version', '?')})"
