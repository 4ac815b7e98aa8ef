"""Helpers for the complaint-procedure tests: services on a test database, a settable clock,
mails built by hand, and a fixed triage step (the real model is not what these tests test)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingestd import intake
from ingestd.config import REPO_ROOT, Settings
from ingestd.pipeline import Context, process_pending
from ingestd.pipeline import runner as pipeline_runner
from ingestd.pipeline.steps import STEPS
from ingestd.pipeline.steps.triage import triage as real_triage
from ingestd.procedure import compute_deadlines
from ingestd.services import Services, build_services
from ingestd.sources.delivery import Delivery
from storage import Case, Outbox, make_engine, transaction, upgrade
from tests import support

ESCALATION = {"level1": "supervisor@example.test", "level2": "manager@example.test",
              "level3": "executive@example.test"}


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_settings(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "templates": str(REPO_ROOT / "templates"),
        "smtp": {"mode": "file", "path": str(tmp_path / "outbox"),
                 "from": "Customer Support <support@example.test>"},
        "maildir": [{"name": "support", "address": "support@example.test",
                     "path": str(tmp_path / "Maildir")}],
        "escalation": ESCALATION,
        "routing": {"default": "agents@example.test", "billing": "billing-team@example.test"},
        "calendar": {"country": "GB", "subdivision": "ENG", "timezone": "Europe/London"},
        **overrides,
    }
    return Settings.model_validate(data)


def make_services(db_url: str, tmp_path: Path, clock: Clock, **overrides: Any) -> Services:
    engine = make_engine(db_url)
    upgrade(engine)
    return build_services(make_settings(db_url, tmp_path, **overrides), engine, clock=clock)


def fixed_triage(category: str = "delivery", severity: str = "medium",
                 reasons: tuple[str, ...] = ()) -> Callable[[Context], None]:
    """A triage step that always decides the same (rules fired = escalate)."""
    def triage(ctx: Context) -> None:
        if not ctx.new_case or ctx.case is None:
            return
        case = ctx.case
        case.category, case.severity = category, severity
        case.escalate = case.serious = bool(reasons) or severity == "critical"
        case.confidence, case.needs_review = 0.9, False
        case.triage = {"category": category, "severity": severity, "escalate": case.escalate,
                       "confidence": 0.9, "reasons": list(reasons), "model_version": "test"}
    triage.__name__ = "triage"
    return triage


def use_triage(monkeypatch: pytest.MonkeyPatch, step: Callable[[Context], None]) -> None:
    monkeypatch.setattr(pipeline_runner, "STEPS",
                        tuple(step if s is real_triage else s for s in STEPS))


def mail(sender: str, subject: str, body: str, message_id: str, date: datetime, *,
         in_reply_to: str | None = None, name: str = "Ann Example") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "support@example.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    msg.set_content(body)
    return msg.as_bytes()


def receive(services: Services, raw: bytes, received_at: datetime | None = None) -> None:
    """Store one mail as if it arrived at `received_at` (default: the clock) and process it."""
    with transaction(services.factory) as session:
        intake.store(session, [Delivery(source="support", raw=raw)],
                     received_at or services.clock())
    process_pending(services)


def add_case(services: Services, received_at: datetime, **fields: Any) -> int:
    """A case written directly (no mail), with deadlines as start_clocks would set them."""
    with transaction(services.factory) as session:
        values: dict[str, Any] = {"status": "acknowledged", "customer_address": "ann@example.test",
                                  "customer_name": "Ann", "subject": "Parcel never arrived",
                                  "category": "delivery", "severity": "medium",
                                  "triage": {"reasons": []}, **fields}
        case = Case(received_at=received_at, **values)
        deadlines = compute_deadlines(received_at, case.escalate or False,
                                      services.settings.sla, services.calendar)
        case.acknowledge_due = case.acknowledge_due or deadlines.acknowledge_due
        case.investigate_due = case.investigate_due or deadlines.investigate_due
        case.resolve_due = case.resolve_due or deadlines.resolve_due
        session.add(case)
        session.flush()
        case.reference = case.reference or f"CMP-{received_at.year}-{case.id:06d}"
        return case.id


def outbox(services: Services, kind: str | None = None) -> list[Outbox]:
    with services.factory() as session:
        query = select(Outbox).order_by(Outbox.id)
        if kind:
            query = query.where(Outbox.kind == kind)
        return list(session.scalars(query))


def write_config(tmp_path: Path, db_url: str) -> Path:
    """A config.toml on the test database, for driving the CLI."""
    return support.write_config(tmp_path, support.ConfigSpec(
        db_url, sender="Support Team <support@example.test>"))


def run_cli(config: Path, *args: str) -> str:
    """Run `ingestd --config CONFIG ARGS...`; fail the test on a non-zero exit."""
    from click.testing import CliRunner  # noqa: PLC0415  (loaded where used, after the test has set up)

    from ingestd.cli import _register, cli  # noqa: PLC0415  (loaded where used, after the test has set up)

    _register()
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout
