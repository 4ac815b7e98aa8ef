"""PNG plots of the monthly report (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingestd.reports.monthly import MonthlyReport


def write_plots(report: MonthlyReport, out: Path) -> list[Path]:
    """Write one PNG per topic into `out`; returns their paths."""
    import matplotlib  # noqa: PLC0415  (heavy; only the report command needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415  (matplotlib loads only when plots are drawn)

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (("volumes", _volumes), ("timings", _timings),
                       ("sla_escalations", _sla), ("satisfaction", _satisfaction)):
        fig = draw(plt, report)
        fig.suptitle(f"Complaints received in {report.month}", fontsize=13)
        fig.tight_layout()
        path = out / f"{report.month}-{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _bars(ax: Any, data: dict[str, int], title: str, color: str) -> None:
    labels, values = list(data), list(data.values())
    bars = ax.bar(labels, values, color=color)
    ax.bar_label(bars)
    ax.set_title(title)
    ax.set_ylabel("cases")
    ax.tick_params(axis="x", rotation=30)
    ax.margins(y=0.15)


def _volumes(plt: Any, report: MonthlyReport) -> Any:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    _bars(left, report.by_category, "By category", "tab:blue")
    _bars(right, report.by_severity, "By severity", "tab:orange")
    return fig


def _timings(plt: Any, report: MonthlyReport) -> Any:
    fig, ax = plt.subplots(figsize=(10, 5))
    if report.hours_to_resolve:
        ax.hist(report.hours_to_resolve, bins=20, color="tab:green")
    for value, label, style in ((report.resolve.median_hours, "median", "--"),
                                (report.resolve.p90_hours, "p90", ":")):
        if value is not None:
            ax.axvline(value, color="black", linestyle=style, label=f"{label} {value:.1f} h")
    ax.set_title(f"Time to resolve ({report.resolve.count} cases); acknowledge median "
                 f"{report.acknowledge.median_hours} h")
    ax.set_xlabel("hours from receipt")
    ax.set_ylabel("cases")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if report.resolve.count:
        ax.legend(loc="upper right")
    return fig


def _sla(plt: Any, report: MonthlyReport) -> Any:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    _bars(left, report.breaches, "SLA breaches by step", "tab:red")
    _bars(right, {f"level {k}": v for k, v in report.escalations.items()},
          "Escalations by level", "tab:purple")
    return fig


def _satisfaction(plt: Any, report: MonthlyReport) -> Any:
    fig, ax = plt.subplots(figsize=(10, 5))
    _bars(ax, report.satisfaction_scores, "Satisfaction scores (1-5)", "tab:cyan")
    rate = "n/a" if report.response_rate is None else f"{report.response_rate:.0%}"
    ax.set_title(f"Satisfaction: average {report.satisfaction_average}, response rate {rate}")
    ax.set_xlabel("score")
    return fig
