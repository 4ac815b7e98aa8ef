"""PNG plots of the monthly report (matplotlib, headless Agg backend), for a manager's glance.

Counts sit on integer axes; severities keep their order (low to critical) and their colours;
categories are horizontal bars, so long names never overlap; times show the SLA target as a
line; a month with nothing to show says so in words instead of drawing empty axes; and a
twelve-month trend puts the month in context.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingestd.progress import Tick, no_tick
from ingestd.reports.monthly import MonthlyReport
from ingestd.reports.text import hours

SEVERITY_COLOURS = {"low": "#4caf50", "medium": "#ffc107", "high": "#ff7043",
                    "critical": "#c62828"}
OTHER_COLOUR = "#9e9e9e"
DPI = 100


def write_plots(report: MonthlyReport, out: Path, tick: Tick = no_tick) -> list[Path]:
    """Write one PNG per topic into `out`; returns their paths. `tick(1)` follows each."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PLOTS:
        fig = figure(report, name)
        path = out / f"{report.month}-{name}.png"
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        written.append(path)
        tick(1)
    return written


def figure(report: MonthlyReport, name: str) -> Any:
    """One of the report's figures (a matplotlib Figure, drawn, not saved); see `PLOTS`."""
    draw, title = PLOTS[name]
    plt = _pyplot()
    fig = draw(plt, report) if report.total or name == "trend" else _nothing(plt, report)
    fig.suptitle(title.format(r=report), fontsize=14, fontweight="bold")
    fig.tight_layout()
    return fig


def _pyplot() -> Any:
    import matplotlib  # noqa: PLC0415  (heavy; only the report command needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415  (matplotlib loads only when plots are drawn)

    return plt


def _nothing(plt: Any, report: MonthlyReport) -> Any:
    """The figure of a month without cases: one clear sentence, no empty axes."""
    fig, ax = plt.subplots(figsize=(12, 5))
    _empty(ax, f"No cases received in {report.month}")
    return fig


def _empty(ax: Any, message: str) -> None:
    """An axes that says there is nothing to show, instead of a blank frame."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, color="#616161",
            transform=ax.transAxes, wrap=True)


def _counts_axis(axis: Any) -> None:
    """Whole numbers only on an axis that counts cases."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415  (matplotlib loads only when plots are drawn)

    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _bars(ax: Any, data: dict[str, int], title: str, colours: list[str] | str) -> None:
    bars = ax.bar(list(data), list(data.values()), color=colours)
    ax.bar_label(bars, padding=2)
    ax.set_title(title)
    ax.set_ylabel("cases")
    ax.set_ylim(0, max(1, *data.values()) * 1.15)
    _counts_axis(ax.yaxis)


def _volumes(plt: Any, report: MonthlyReport) -> Any:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), width_ratios=(3, 2))
    names = list(reversed(report.by_category))  # largest at the top
    bars = left.barh(names, [report.by_category[n] for n in names], color="#1e88e5")
    left.bar_label(bars, padding=3)
    left.set_title("By category")
    left.set_xlabel("cases")
    left.set_xlim(0, max(report.by_category.values()) * 1.15)
    _counts_axis(left.xaxis)
    _bars(right, report.by_severity, "By severity (low to critical)",
          [SEVERITY_COLOURS.get(s, OTHER_COLOUR) for s in report.by_severity])
    return fig


def _timings(plt: Any, report: MonthlyReport) -> Any:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    _timing(left, "acknowledge", report.hours_to_acknowledge,
            median=report.acknowledge.median_hours,
            target=report.targets.get("acknowledge_hours"), colour="#43a047")
    _timing(right, "resolve", report.hours_to_resolve, median=report.resolve.median_hours,
            target=report.targets.get("resolve_hours"), colour="#1e88e5")
    return fig


def _timing(ax: Any, step: str, values: list[float], *, median: float | None,
            target: float | None, colour: str) -> None:
    """Histogram of hours to `step`, with the SLA target and the median as lines.

    When the times span more than a factor of 50 (acknowledgments in a minute against a
    24-hour target) the axis is logarithmic with labels in minutes, hours and days, so
    both the bars and the target stay visible.
    """
    if not values:
        _empty(ax, f"No case {step}d yet" + (f"\n(target {hours(target)})" if target else ""))
        return
    low = max(min(values), 1 / 60)
    high = max(*values, target or 0) * 1.3
    if high / low > 50:
        bins: Any = _log_axis(ax, low, high)
        ax.set_xlabel("time from receipt (log scale)")
    else:
        bins, _ = 20, ax.set_xlim(0, high)
        ax.set_xlabel("hours from receipt")
    counts, _, _ = ax.hist([max(v, low) for v in values], bins=bins, color=colour, alpha=0.85)
    median = median if median is not None else values[len(values) // 2]
    ax.axvline(max(median, low), color="black", linestyle="--", label=f"median {hours(median)}")
    if target is not None:
        ax.axvline(target, color="#c62828", linewidth=2.5, label=f"SLA target {hours(target)}")
    ax.set_title(f"Time to {step} ({len(values)} cases)")
    ax.set_ylabel("cases")
    ax.set_ylim(0, max(counts) * 1.3)
    _counts_axis(ax.yaxis)
    ax.legend(loc="upper right", framealpha=0.95)


TICKS = ((1 / 60, "1 min"), (10 / 60, "10 min"), (1, "1 h"), (4, "4 h"), (24, "1 day"),
         (72, "3 days"), (168, "1 week"), (720, "30 days"))


def _log_axis(ax: Any, low: float, high: float) -> Any:
    """A logarithmic hours axis labelled in words; returns the histogram's bins."""
    import numpy as np  # noqa: PLC0415  (loaded with matplotlib, only when plots are drawn)

    ax.set_xscale("log")
    ax.set_xlim(low * 0.8, high)
    shown = [(at, label) for at, label in TICKS if low * 0.8 <= at <= high]
    ax.set_xticks([at for at, _ in shown], [label for _, label in shown])
    ax.minorticks_off()
    return np.geomspace(low * 0.9, high, 30)


def _sla(plt: Any, report: MonthlyReport) -> Any:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    on_time = {step: report.total - late for step, late in report.breaches.items()}
    left.bar(list(on_time), list(on_time.values()), color="#43a047", label="on time")
    late = left.bar(list(report.breaches), list(report.breaches.values()),
                    bottom=list(on_time.values()), color="#c62828", label="missed")
    left.bar_label(late, labels=[f"{n} missed" if n else "" for n in report.breaches.values()],
                   label_type="center", color="white", fontweight="bold")
    left.axhline(report.total, color="black", linestyle=":", label=f"all {report.total} cases")
    left.set_title("Deadlines kept and missed, by step")
    left.set_ylabel("cases")
    left.set_ylim(0, report.total * 1.35)
    _counts_axis(left.yaxis)
    left.legend(loc="upper center", ncols=3)
    _bars(right, {f"level {k}": v for k, v in report.escalations.items()},
          "Escalations by level reached", ["#ffb300", "#f4511e", "#b71c1c"])
    return fig


def _satisfaction(plt: Any, report: MonthlyReport) -> Any:
    fig, ax = plt.subplots(figsize=(10, 5))
    if not any(report.satisfaction_scores.values()):
        _empty(ax, "No satisfaction scores yet"
               + (f"\n({report.followups_sent} follow-ups sent)" if report.followups_sent
                  else "\n(no follow-ups sent)"))
        return fig
    _bars(ax, report.satisfaction_scores, f"Scores, 1 (poor) to 5 (excellent): average "
          f"{report.satisfaction_average:g}, response rate {report.response_rate or 0:.0%}",
          ["#c62828", "#ff7043", "#ffc107", "#9ccc65", "#43a047"])
    ax.set_xlabel("score")
    return fig


def _trend(plt: Any, report: MonthlyReport) -> Any:
    fig, ax = plt.subplots(figsize=(12, 5))
    months = [m["month"] for m in report.trend]
    if not any(m["total"] for m in report.trend):
        _empty(ax, f"No cases received from {months[0]} to {months[-1]}")
        return fig
    bottom = [0] * len(months)
    for severity, colour in SEVERITY_COLOURS.items():
        counts = [m["by_severity"].get(severity, 0) for m in report.trend]
        ax.bar(months, counts, bottom=bottom, color=colour, label=severity)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    unrated = [m["total"] - b for m, b in zip(report.trend, bottom, strict=True)]
    if any(unrated):
        ax.bar(months, unrated, bottom=bottom, color=OTHER_COLOUR, label="no severity")
    totals = [m["total"] for m in report.trend]
    ax.plot(months, [m["late"] for m in report.trend], color="black", marker="o",
            label="missed a deadline")
    for x, total in enumerate(totals):
        ax.annotate(str(total), (x, total), ha="center", va="bottom", xytext=(0, 3),
                    textcoords="offset points")
    ax.set_ylim(0, max(totals) * 1.3)
    ax.set_ylabel("cases received")
    ax.tick_params(axis="x", rotation=45)
    _counts_axis(ax.yaxis)
    ax.legend(loc="upper left", ncols=5)
    return fig


# Each figure: how it is drawn and its title; the PNG is named `<month>-<name>.png`.
PLOTS: dict[str, tuple[Callable[[Any, MonthlyReport], Any], str]] = {
    "volumes": (_volumes, "Complaints received in {r.month}: {r.total}"),
    "timings": (_timings, "Response times, {r.month}"),
    "sla_escalations": (_sla, "Deadlines and escalations, {r.month}"),
    "satisfaction": (_satisfaction, "Customer satisfaction, {r.month}"),
    "trend": (_trend, "Twelve months to {r.month}"),
}
