"""Load and validate config.toml into frozen settings.

The file is validated as a whole at start: an unknown key, a wrong type or a missing
value stops ingestd with one line naming the file and the key. Relative paths in the file
are relative to the file itself, so a checkout runs from anywhere.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ingestd.errors import ConfigError
from ingestd.mimelimits import MB, ParseLimits
from ingestd.procedure import CalendarConfig, SlaPolicy
from ingestd.procedure.spikes import SpikePolicy
from ingestd.transport import plaintext_refused

CONFIG_ENV = "INGESTD_CONFIG"
DATABASE_ENV = "INGESTD_DATABASE_URL"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "config.toml"
SYSTEM_CONFIG = Path("/etc/ingestd/config.toml")  # an installed wheel's (docs/deploy.md)
SHIPPED_TEMPLATES = "templates"
SHIPPED_MODEL = "models/current.skops"


def shipped(name: str) -> Path:
    """The project's own `templates` or `models/current.skops`, for a config that names none.

    An installed wheel carries them as package data in `ingestd/shipped/`; a checkout (or an
    editable install) has them in its top-level folders, which stay the source of truth.
    """
    inside = Path(__file__).resolve().parent / "shipped" / name
    return inside if inside.exists() else REPO_ROOT / name

Security = Literal["tls", "starttls", "none"]
PLAINTEXT_REFUSED = ("security = 'none' would send the password and mail unencrypted to {host}, "
                     "which is not this machine; use 'tls' or 'starttls', or set "
                     "allow_plaintext = true to accept that")


class Section(BaseModel):
    """A config table: strict, immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(Section):
    url: str = "sqlite:///var/ingestd.db"
    echo: bool = False


class MailboxConfig(Section):
    name: str
    address: str
    host: str
    port: int = 993
    security: Security = "tls"
    username: str
    password: str | None = None
    password_file: Path | None = None
    auth: Literal["password", "xoauth2"] = "password"
    oauth2_token_command: str | None = None
    oauth2_token_file: Path | None = None
    folders: tuple[str, ...] = ("INBOX",)
    tls_ca_file: Path | None = None
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 500
    timeout: float = 30.0
    idle: bool = True
    allow_plaintext: bool = False

    @model_validator(mode="after")
    def _no_plaintext_abroad(self) -> MailboxConfig:
        if plaintext_refused(self.security, self.host, self.allow_plaintext):
            raise ValueError(PLAINTEXT_REFUSED.format(host=self.host))
        return self

    @model_validator(mode="after")
    def _has_credentials(self) -> MailboxConfig:
        if self.auth == "password" and self.password is None and self.password_file is None:
            raise ValueError("needs password or password_file")
        if self.auth == "xoauth2" and not (self.oauth2_token_command or self.oauth2_token_file):
            raise ValueError("auth = 'xoauth2' needs oauth2_token_command or oauth2_token_file")
        return self

    def secret(self) -> str:
        """The password, read from password_file when one is named."""
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password or ""


class MaildirConfig(Section):
    name: str
    address: str
    path: Path


class SmtpConfig(Section):
    """Outgoing mail. With a host: SMTP over STARTTLS (implicit TLS on port 465) unless
    `mode` or `security` say otherwise; without one, .eml files in `path`."""

    mode: Literal["smtp", "file"] = "file"
    path: Path = Path("var/outbox")
    host: str = "127.0.0.1"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    tls_ca_file: Path | None = None
    from_: str = Field("Customer Support <support@example.test>", alias="from")
    timeout: float = 30.0
    max_attempts: Annotated[int, Field(ge=1)] = 8
    backoff_seconds: Annotated[float, Field(gt=0)] = 30.0
    allow_plaintext: bool = False

    @model_validator(mode="before")
    @classmethod
    def _host_means_smtp(cls, data: object) -> object:
        if not isinstance(data, dict) or "host" not in data:
            return data
        secure = "tls" if data.get("port") == 465 else "starttls"
        return {"mode": "smtp", "security": secure, **data}

    @model_validator(mode="after")
    def _no_plaintext_abroad(self) -> SmtpConfig:
        if self.mode == "smtp" and plaintext_refused(self.security, self.host,
                                                     self.allow_plaintext):
            raise ValueError(PLAINTEXT_REFUSED.format(host=self.host))
        return self

    def secret(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password


class EscalationConfig(Section):
    level1: str = "supervisor@example.test"
    level2: str = "manager@example.test"
    level3: str = "executive@example.test"

    def address(self, level: int) -> str:
        return {1: self.level1, 2: self.level2, 3: self.level3}[min(max(level, 1), 3)]


class RoutingConfig(BaseModel):
    """Team address per category; every key but `default` must be a category."""

    model_config = ConfigDict(extra="allow", frozen=True)
    default: str = "agents@example.test"

    def address(self, category: str | None) -> str:
        extra = self.model_extra or {}
        return str(extra.get(category or "", self.default))


class CasesConfig(Section):
    reference_prefix: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,9}$")] = "CMP"
    reopen_window_days: Annotated[int, Field(ge=0)] = 30
    acknowledgments_per_sender_per_hour: Annotated[int, Field(ge=0)] = 3
    admins: tuple[str, ...] = ()  # actors who may --force a move the procedure does not allow


class UpdatesConfig(Section):
    """`[updates]`: the progress mails customers get (seeds: "provide regular updates")."""

    investigating: bool = True
    resolved: bool = True
    new_date: bool = True
    notice_hours: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 24
    new_date_business_days: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2


class ThreadingConfig(Section):
    """Whether a subject tag alone may join a mail to a case, or needs an authenticated From."""

    require_authenticated_sender: bool = False
    authserv_id: str | None = None  # our receiving server's id in Authentication-Results

    @model_validator(mode="after")
    def _needs_our_server(self) -> ThreadingConfig:
        if self.require_authenticated_sender and not (self.authserv_id or "").strip():
            raise ValueError("require_authenticated_sender needs authserv_id: the id your "
                             "receiving server writes in Authentication-Results")
        return self


class FloodsConfig(Section):
    """Caps on automatic mail when many mails arrive at once (loops, floods, outages).

    A sender is counted by its normalised address (case folded, `+tag` removed, dots
    removed where the domain ignores them). Team and escalation mail over a cap is held;
    an hour after the first one held, one digest per address lists what was held.
    """

    acknowledgments_per_hour: Annotated[int, Field(ge=0)] = 10_000  # a loop guard, not a throttle
    team_mails_per_sender_per_hour: Annotated[int, Field(ge=0)] = 5
    team_mails_per_hour: Annotated[int, Field(ge=0)] = 200
    dotless_domains: tuple[str, ...] = ("gmail.com", "googlemail.com")

    @field_validator("dotless_domains")
    @classmethod
    def _lower_domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.strip().lower() for d in domains)


def _default_categories() -> tuple[str, ...]:
    from triage.labels import CATEGORIES  # noqa: PLC0415  (only the names: no scikit-learn)

    return CATEGORIES


class TriageConfig(Section):
    model: Path = Path("models/current.skops")
    review_threshold: Annotated[float, Field(ge=0, le=1)] = 0.5
    categories: Annotated[tuple[str, ...], Field(min_length=2)] = Field(
        default_factory=_default_categories)

    @field_validator("categories")
    @classmethod
    def _distinct_categories(cls, categories: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(c.strip().lower() for c in categories)
        if len(set(names)) != len(names) or not all(names):
            raise ValueError("categories must be distinct, non-empty names")
        return names


class DaemonConfig(Section):
    poll_interval: Annotated[float, Field(gt=0)] = 30.0
    idle_timeout: Annotated[float, Field(gt=0, le=29 * 60)] = 25 * 60.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    mailbox_unreachable_after: float = 300.0
    sweep_interval: float = 60.0
    lease_seconds: float = 60.0
    workers: Annotated[int, Field(ge=0, le=64)] | None = None  # None: one per core beyond one


class RetentionConfig(Section):
    closed_case_days: Annotated[int, Field(ge=1)] = 730


class LimitsConfig(Section):
    """How much of one mail is read, and for how long (SPEC: never lose a message)."""

    message_mb: Annotated[float, Field(gt=0)] = 25
    text_mb: Annotated[float, Field(gt=0)] = 2
    triage_kb: Annotated[float, Field(gt=0)] = 100
    mime_parts: Annotated[int, Field(ge=1)] = 200
    mime_depth: Annotated[int, Field(ge=1, le=200)] = 50  # deeper: RecursionError
    header_line_chars: Annotated[int, Field(ge=78, le=998)] = 998
    message_seconds: Annotated[float, Field(gt=0)] = 5

    def parse_limits(self) -> ParseLimits:
        return ParseLimits(message_bytes=int(self.message_mb * MB),
                           text_chars=int(self.text_mb * MB),
                           triage_chars=int(self.triage_kb * 1024),
                           mime_parts=self.mime_parts, mime_depth=self.mime_depth)


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class WebConfig(Section):
    """`[web]`: the agents' desk (`ingestd web`, or inside `ingestd run` when enabled)."""

    enabled: bool = False  # true: `ingestd run` serves the desk as well
    listen: str = "127.0.0.1:8025"  # HOST:PORT ([::1]:8025 for IPv6); loopback behind a proxy
    idle_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 30
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")  # whose X-Forwarded-* are believed
    login_attempts_per_minute: Annotated[int, Field(ge=1)] = 5

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, listen: str) -> str:
        split_listen(listen)
        return listen

    def address(self) -> tuple[str, int]:
        return split_listen(self.listen)


def split_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[IPv6]:PORT`) as a host and a port number; ValueError saying why."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", listen.strip())
    if match is None:
        raise ValueError(f"{listen!r} is not HOST:PORT, e.g. 127.0.0.1:8025")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range (1-65535)")
    return host, port


class Settings(Section):
    """Everything config.toml says, with paths made absolute."""

    database: DatabaseConfig = DatabaseConfig()
    mailbox: tuple[MailboxConfig, ...] = ()
    maildir: tuple[MaildirConfig, ...] = ()
    smtp: SmtpConfig = SmtpConfig()
    escalation: EscalationConfig = EscalationConfig()
    routing: RoutingConfig = RoutingConfig()
    cases: CasesConfig = CasesConfig()
    threading: ThreadingConfig = ThreadingConfig()
    updates: UpdatesConfig = UpdatesConfig()
    floods: FloodsConfig = FloodsConfig()
    triage: TriageConfig = TriageConfig()
    sla: SlaPolicy = SlaPolicy()
    recurring: SpikePolicy = SpikePolicy()
    calendar: CalendarConfig = CalendarConfig()
    daemon: DaemonConfig = DaemonConfig()
    retention: RetentionConfig = RetentionConfig()
    logging: LoggingConfig = LoggingConfig()
    limits: LimitsConfig = LimitsConfig()
    web: WebConfig = WebConfig()
    templates: Path = Path("templates")
    path: Path = DEFAULT_CONFIG

    def our_addresses(self) -> frozenset[str]:
        """Every address that is ours: never acknowledged, never a customer."""
        addresses = {m.address for m in self.mailbox} | {m.address for m in self.maildir}
        addresses |= {self.escalation.level1, self.escalation.level2, self.escalation.level3}
        return frozenset(a.lower() for a in addresses)


def require_model(path: Path) -> None:
    """Refuse a triage model file that is not there, before any mail waits for it."""
    if not path.is_file():
        raise ConfigError(f"no triage model at {path}; set [triage] model or train "
                          "one with: ingestd train --promote")


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: --config, then INGESTD_CONFIG, then the checkout's config.toml,
    then (installed from the wheel, where there is no checkout) /etc/ingestd/config.toml."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if chosen:
        return Path(chosen).resolve()
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else SYSTEM_CONFIG


def load(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read, validate and resolve the configuration, or raise ConfigError saying why."""
    file = config_path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: no such config file; pass --config or set {CONFIG_ENV}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    if url := os.environ.get(DATABASE_ENV):
        data.setdefault("database", {})["url"] = url
    return _validate(data, file, url_from=DATABASE_ENV if url else f"{file}: [database] url")


def _validate(data: dict[str, object], file: Path, url_from: str) -> Settings:
    try:
        settings = Settings.model_validate({**data, "path": file})
    except ValidationError as exc:
        raise ConfigError(f"{file}: {_describe(exc)}") from None
    if problem := database_url_problem(settings.database.url):
        raise ConfigError(f"{url_from}: {problem}; {URL_FORMS}")
    _check_routing(settings, file)
    return _resolve_paths(settings, file.parent)


URL_FORMS = ("write sqlite:///relative/path.db, sqlite:////absolute/path.db or "
             "postgresql+psycopg://user:password@host:port/dbname")


def database_url_problem(url: str) -> str | None:
    """What is wrong with a database URL, in words, or None when it can be used."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415  (only when a config is loaded)
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError  # noqa: PLC0415  (as above)

    shown = repr(re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url))  # never the password
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"{shown} is not a database URL"
    except ValueError:
        return f"{shown}: the port is not a number"
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return f"{shown}: unknown database {backend!r} (sqlite or postgresql)"
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError):
        return f"{shown}: unknown or missing driver {parsed.drivername!r}"
    return _url_shape_problem(shown, parsed.port, parsed.database, backend, url)


def _url_shape_problem(shown: str, port: int | None, database: str | None, backend: str,
                       url: str) -> str | None:
    if port is not None and not 0 < port < 65536:
        return f"{shown}: port {port} is out of range (1-65535)"
    if backend == "postgresql" and not database:
        return f"{shown} names no database"
    if backend == "sqlite" and not database and url.startswith("sqlite:///"):
        return f"{shown} names no database file"
    return None


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"unknown key {key!r} (check the spelling against the commented config.toml)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    message = first["msg"].removeprefix("Value error, ")
    return f"bad value for {key!r}: {message}{more}"


def _check_routing(settings: Settings, file: Path) -> None:
    categories = settings.triage.categories
    for key in settings.routing.model_extra or {}:
        if key not in categories:
            raise ConfigError(f"{file}: unknown category {key!r} in [routing]; use one of "
                              f"{', '.join(categories)} ([triage] categories) or 'default'")


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def absolute(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base / p).resolve())

    def secret(p: Path | None) -> Path | None:
        """A secret file may start with $CREDENTIALS_DIRECTORY (systemd's LoadCredential)."""
        return absolute(None if p is None else Path(os.path.expandvars(p)))

    mailboxes = tuple(m.model_copy(update={
        "password_file": secret(m.password_file), "tls_ca_file": absolute(m.tls_ca_file),
        "oauth2_token_file": secret(m.oauth2_token_file)}) for m in settings.mailbox)
    maildirs = tuple(m.model_copy(update={"path": absolute(m.path)}) for m in settings.maildir)
    smtp = settings.smtp.model_copy(update={
        "path": absolute(settings.smtp.path),
        "password_file": secret(settings.smtp.password_file),
        "tls_ca_file": absolute(settings.smtp.tls_ca_file)})
    database = settings.database.model_copy(
        update={"url": _sqlite_relative(settings.database.url, base)})
    model = (absolute(settings.triage.model) if "model" in settings.triage.model_fields_set
             else shipped(SHIPPED_MODEL))
    templates = (absolute(settings.templates) if "templates" in settings.model_fields_set
                 else shipped(SHIPPED_TEMPLATES))
    return settings.model_copy(update={
        "mailbox": mailboxes, "maildir": maildirs, "smtp": smtp, "database": database,
        "triage": settings.triage.model_copy(update={"model": model}), "templates": templates})


def _sqlite_relative(url: str, base: Path) -> str:
    """Make `sqlite:///var/x.db` relative to the config file; `sqlite:////abs` stays."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base / url[len(prefix):]).resolve())
    return url
