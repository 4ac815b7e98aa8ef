"""The monthly report over a generated month, checked against numbers worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingestd.reports import MonthlyReport, monthly_report, parse_month, render_text
from ingestd.reports.monthly import Timing
from ingestd.reports.plots import figure
from ingestd.services import Services
from storage import Event
from tests.procedure_support import Clock, add_case, make_services, run_cli, write_config
from triage.labels import SEVERITIES as SEVERITY_ORDER

NOV = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
CATEGORIES = ["billing"] * 4 + ["delivery"] * 3 + ["product_quality"] * 2 + ["other"]
SUBJECTS = {"billing": "Charged twice", "delivery": "Parcel late",
            "product_quality": "Kettle broken", "other": "Hello there"}
SEVERITIES = ["low", "medium", "medium", "high", "low", "medium", "critical", "medium", "low",
              "high"]
ACK = [1, 2, 3, 4, 5, 6, 7, 8, 30, None]
ASSIGNED = [1, 1, 1, 1, 1, 1, 1, 30, None, None]
RESOLVE = [10, 20, 30, 40, 50, 60, 130, None, None, None]
SCORES = [5, 4, None, 2, 5, None]
SOLVED = [True, True, None, False, True, None]
CUSTOMERS = ["ann@x.test"] * 3 + ["bo@x.test"] * 2 + [f"c{i}@x.test" for i in range(5)]
ESCALATED = {7: (1, 2), 8: (1, 2, 3), 9: (1,)}
CAUSES = {0: "courier", 1: "courier", 3: "billing bug"}


def _hours(start: datetime, hours: float | None) -> datetime | None:
    return None if hours is None else start + timedelta(hours=hours)


def generate_month(services: Services) -> None:
    for i, category in enumerate(CATEGORIES):
        received = NOV + timedelta(days=i)
        status = "closed" if i < 2 else "resolved" if RESOLVE[i] else "investigating"
        case_id = add_case(
            services, received, category=category, severity=SEVERITIES[i], status=status,
            subject=SUBJECTS[category], customer_address=CUSTOMERS[i],
            acknowledge_due=received + timedelta(hours=24),
            investigate_due=received + timedelta(hours=24),
            resolve_due=received + timedelta(hours=120),
            acknowledged_at=_hours(received, ACK[i]), assigned_at=_hours(received, ASSIGNED[i]),
            resolved_at=_hours(received, RESOLVE[i]),
            followup_sent_at=_hours(received, 200) if i < 6 else None,
            satisfaction=SCORES[i] if i < 6 else None,
            solved_confirmed=SOLVED[i] if i < 6 else None,
            order_numbers=["A-1001"] if i in (0, 5) else [],
            triage={"reasons": ["rule: recurring_customer"] if i == 2 else []},
            corrective_action={"root_cause": CAUSES[i]} if i in CAUSES else None)
        with services.factory() as session, session.begin():
            for level in ESCALATED.get(i, ()):
                session.add(Event(case_id=case_id, kind="escalation", new=str(level),
                                  old=str(level - 1), at=received + timedelta(hours=24 * level)))
    add_case(services, datetime(2026, 10, 31, 23, 0, tzinfo=UTC))
    add_case(services, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))


def test_monthly_report_numbers(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(AS_OF))
    generate_month(services)
    start, end = parse_month("2026-11", AS_OF)
    with services.factory() as session:
        report = monthly_report(session, start, end, AS_OF)
    assert report.total == 10
    assert report.by_category == {"billing": 4, "delivery": 3, "product_quality": 2, "other": 1}
    assert report.by_severity == {"medium": 4, "low": 3, "high": 2, "critical": 1}
    # acknowledge: 1..8 and 30 h -> median 5, p90 = 9th of 9 = 30
    assert (report.acknowledge.count, report.acknowledge.median_hours,
            report.acknowledge.p90_hours) == (9, 5, 30)
    # resolve: 10, 20, 30, 40, 50, 60, 130 -> median 40, p90 = 7th of 7 = 130
    assert (report.resolve.count, report.resolve.median_hours,
            report.resolve.p90_hours) == (7, 40, 130)
    # acknowledge late: #8 (30 h), #9 never; investigate: #7 (30 h), #8, #9 never;
    # resolve: #6 (130 h > 120 h), #7, #8, #9 open past their deadline on 1 December
    assert report.breaches == {"acknowledge": 2, "investigate": 3, "resolve": 4}
    assert report.escalations == {"1": 3, "2": 2, "3": 1}
    # 6 follow-ups sent, 4 answered (#0, #1, #3, #4): scores 5, 4, 2, 5
    assert (report.followups_sent, report.followups_answered) == (6, 4)
    assert report.response_rate == round(4 / 6, 4)
    assert report.satisfaction_average == 4.0
    assert report.satisfaction_scores == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 2}
    assert (report.solved_confirmed, report.not_solved) == (3, 1)
    assert report.recurring_flagged == 1
    assert report.recurring_customers == [{"customer": "ann@x.test", "cases": 3},
                                          {"customer": "bo@x.test", "cases": 2}]
    assert report.recurring_orders == [{"order": "A-1001", "cases": 2}]
    assert {"category": "billing", "keyword": "charged", "cases": 4} in report.top_issues
    assert {"category": "delivery", "keyword": "parcel", "cases": 3} in report.top_issues
    assert not any(i["category"] == "other" for i in report.top_issues)  # stop words, and once
    assert report.root_causes == [{"root_cause": "courier", "cases": 2},
                                  {"root_cause": "billing bug", "cases": 1}]
    text = render_text(report)
    assert "Complaints received in 2026-11" in text and "median 40" in text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # logic only: one backend
def test_report_command_writes_json_and_plots(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(AS_OF))
    generate_month(services)
    out = tmp_path / "plots"
    data = json.loads(run_cli(write_config(tmp_path, db_url), "report", "monthly", "--month",
                              "2026-11", "--json", "--now", "2026-12-01T00:00:00",
                              "--out", str(out)))
    assert data["total"] == 10 and data["breaches"]["resolve"] == 4
    pngs = sorted(p.name for p in out.iterdir())
    assert pngs == ["2026-11-satisfaction.png", "2026-11-sla_escalations.png",
                    "2026-11-timings.png", "2026-11-trend.png", "2026-11-volumes.png"]
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parse_month_defaults_to_last_month() -> None:
    assert parse_month(None, datetime(2026, 1, 15, tzinfo=UTC))[0] == datetime(
        2025, 12, 1, tzinfo=UTC)
    assert parse_month("2026-12", AS_OF)[1] == datetime(2027, 1, 1, tzinfo=UTC)


def _report(services: Services, month: str) -> MonthlyReport:
    start, end = parse_month(month, AS_OF)
    with services.factory() as session:
        return monthly_report(session, start, end, min(AS_OF, end))


def _integer_ticks(axis: Any) -> bool:
    return all(float(t).is_integer() for t in axis.get_ticklocs())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # drawing only: one backend
def test_plots_read_at_a_glance(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(AS_OF))
    generate_month(services)
    report = _report(services, "2026-11")
    assert list(report.by_severity) == ["low", "medium", "high", "critical"]  # not by count
    categories, severities = figure(report, "volumes").axes
    assert [t.get_text() for t in severities.get_xticklabels()] == list(SEVERITY_ORDER)
    assert _integer_ticks(severities.yaxis) and _integer_ticks(categories.xaxis)
    fig = categories.figure
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in categories.get_yticklabels()]
    assert len(boxes) == 4
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    acknowledge, resolve = figure(report, "timings").axes
    assert "SLA target 24 h" in [line.get_label() for line in acknowledge.get_lines()]
    assert "SLA target 5 days" in [line.get_label() for line in resolve.get_lines()]
    assert all(_integer_ticks(ax.yaxis) for ax in (acknowledge, resolve))
    for name in ("sla_escalations", "satisfaction"):
        assert all(_integer_ticks(ax.yaxis) for ax in figure(report, name).axes)
    [trend] = figure(report, "trend").axes
    assert [t.get_text() for t in trend.get_xticklabels()][::11] == ["2025-12", "2026-11"]
    assert _integer_ticks(trend.yaxis)
    assert [(m["month"], m["total"]) for m in report.trend[-2:]] == [("2026-10", 1),
                                                                   ("2026-11", 10)]
    assert report.trend[-1]["by_severity"] == report.by_severity


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # drawing only: one backend
def test_an_empty_month_says_so(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, Clock(AS_OF))
    generate_month(services)
    report = _report(services, "2026-09")
    for name in ("volumes", "timings", "sla_escalations", "satisfaction"):
        fig = figure(report, name)
        assert not any(ax.axison for ax in fig.axes)  # no blank axes
        assert "No cases received in 2026-09" in [t.get_text() for t in fig.axes[0].texts]
    text = render_text(report)
    assert "None" not in text
    assert "no case acknowledged yet" in text and "Follow-ups: none sent yet" in text


def test_report_text_says_no_data_in_words() -> None:
    report = MonthlyReport(month="2026-11", as_of="2026-12-01T00:00:00+00:00", total=2,
                           followups_sent=2, response_rate=0.0,
                           acknowledge=Timing(1, 0.005, 0.005), resolve=Timing())
    text = render_text(report)
    assert "None" not in text
    assert "median under 1 min" in text and "no case resolved yet" in text
    assert "response rate 0%" in text and "average satisfaction no scores yet" in text
