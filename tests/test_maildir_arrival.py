"""Maildir mail is dated when the MTA delivered it, not when ingestd read it (README: arrival
time), so the demo's cases fall in the demo's month and its monthly report counts them."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ingestd.intake import drain_all
from ingestd.reports import monthly_report, parse_month
from storage import Case
from tests.procedure_support import Clock, fixed_triage, mail, make_services, use_triage
from tests.support import REPO

DELIVERED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 1795420800, the first demo file's name
READ = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # ingestd drains the Maildir nine days later


def test_demo_month_report_counts_the_demo_mail(db_url: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    box = tmp_path / "Maildir"
    shutil.copytree(REPO / "demo" / "Maildir", box)
    # A file whose name carries no time (a hand-made Maildir): its mtime is the delivery time.
    untimed = box / "new" / "hand-made.eml"
    untimed.write_bytes(mail("bo@example.net", "Late parcel", "Order 99 is a week late.",
                             "bo@customer.example", DELIVERED, name="Bo"))
    os.utime(untimed, (DELIVERED.timestamp() + 86400,) * 2)
    # The clock of the machine that wrote this one was ahead: never dated after it was read.
    (box / "new" / "2000000000.M1P1.host").write_bytes(mail(
        "cy@example.net", "Wrong size", "The shoes are too small.", "cy@customer.example", READ,
        name="Cy"))
    use_triage(monkeypatch, fixed_triage())
    services = make_services(db_url, tmp_path, Clock(READ), maildir=[
        {"name": "demo", "address": "support@example.test", "path": str(box)}],
        daemon={"workers": 0})
    drain_all(services)
    with services.factory() as session:
        received = {c.customer_address: c.received_at for c in session.scalars(select(Case))}
        start, end = parse_month("2026-11", READ)
        report = monthly_report(session, start, end, READ)
    assert min(received.values()) == DELIVERED
    assert received["bo@example.net"] == DELIVERED + timedelta(days=1)
    assert received["cy@example.net"] == READ
    assert report.total == len(received) - 1 >= 10  # every demo case is November's
    assert report.breaches["acknowledge"] == report.total  # waited nine days: counted late
