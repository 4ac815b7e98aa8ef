"""The monthly report as text for people: section by section, every figure in words.

A new figure in the report (a field of `MonthlyReport`) gets a section function here, added
to `SECTIONS` where it should print. Nothing prints `None`: a figure with no data says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingestd.reports.monthly import MonthlyReport, Timing

NO_DATA = "no data"


def hours(value: float | None) -> str:
    """A duration in words: `no data`, `under 1 min`, `12 min`, `3.5 h`, `5 days`."""
    if value is None:
        return NO_DATA
    if value < 1:
        minutes = round(value * 60)
        return "under 1 min" if minutes < 1 else f"{minutes} min"
    if value >= 48:
        return f"{round(value / 24, 1):g} days"
    return f"{value:g} h"


def _rows(title: str, data: dict[str, Any]) -> list[str]:
    return [title, *(f"  {k:<24}{v}" for k, v in data.items())] if data else [title, "  (none)"]


def _heading(r: MonthlyReport) -> list[str]:
    return [f"Complaints received in {r.month} (as of {r.as_of[:16].replace('T', ' ')} UTC): "
            f"{r.total}"]


def _volumes(r: MonthlyReport) -> list[str]:
    return [*_rows("By category:", r.by_category), *_rows("By severity:", r.by_severity)]


def _times(r: MonthlyReport) -> list[str]:
    def timing(name: str, t: Timing, target: float | None) -> str:
        goal = "" if target is None else f"target {hours(target)}"
        if not t.count:
            return f"  {name:<24}no case {name}d yet" + (f" ({goal})" if goal else "")
        return (f"  {name:<24}median {hours(t.median_hours)}, p90 {hours(t.p90_hours)} "
                f"({t.count} cases" + (f"; {goal})" if goal else ")"))

    return ["Time to:", timing("acknowledge", r.acknowledge, r.targets.get("acknowledge_hours")),
            timing("resolve", r.resolve, r.targets.get("resolve_hours"))]


def _service(r: MonthlyReport) -> list[str]:
    return [*_rows("SLA breaches by step:", r.breaches),
            *_rows("Escalations by level:", r.escalations)]


def _updates(r: MonthlyReport) -> list[str]:
    return _rows("Customer updates sent:", r.updates)


def _followups(r: MonthlyReport) -> list[str]:
    if r.response_rate is None:
        return ["Follow-ups: none sent yet"]
    average = ("no scores yet" if r.satisfaction_average is None
               else f"{r.satisfaction_average:g} of 5")
    return [f"Follow-ups: {r.followups_sent} sent, {r.followups_answered} answered "
            f"(response rate {r.response_rate:.0%}), average satisfaction {average}, "
            f"solved {r.solved_confirmed}, not solved {r.not_solved}"]


def _recurring_lines(r: MonthlyReport) -> list[str]:
    lines = [f"Recurring or spike cases flagged: {r.recurring_flagged}"]
    for title, items in (("Customers with repeat complaints:", r.recurring_customers),
                         ("Orders with repeat complaints:", r.recurring_orders),
                         ("Top recurring issues:", r.top_issues),
                         ("Root causes:", r.root_causes)):
        lines.append(title)
        lines += [f"  {', '.join(f'{k}={v}' for k, v in item.items())}" for item in items] \
            or ["  (none)"]
    return lines


def _trend(r: MonthlyReport) -> list[str]:
    if not r.trend:
        return []
    return ["Last 12 months (received, missed a deadline):",
            "  " + "  ".join(f"{m['month']} {m['total']}/{m['late']}" for m in r.trend[:6]),
            "  " + "  ".join(f"{m['month']} {m['total']}/{m['late']}" for m in r.trend[6:])]


# The report's text, section by section in this order; a new figure is a new section here.
SECTIONS: list[Callable[[MonthlyReport], list[str]]] = [
    _heading, _volumes, _times, _service, _updates, _followups, _recurring_lines, _trend]


def render_text(report: MonthlyReport) -> str:
    """The report as plain text for people: every figure in words ("no data", never None)."""
    return "\n".join(line for section in SECTIONS for line in section(report)) + "\n"
