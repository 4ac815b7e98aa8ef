"""The support manager's dashboard: this month's figures from the monthly report
(`reports.monthly_report`), its plots as PNG (`reports.plots`), and the twelve-month trend."""

from __future__ import annotations

import io
import threading
import time
from datetime import datetime

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ingestd.errors import IngestdError
from ingestd.reports import MonthlyReport, monthly_report, parse_month
from ingestd.reports.plots import DPI, PLOTS, figure
from ingestd.reports.trend import month_start
from ingestd.web.desk import Desk, login_required

_PLOTTING = threading.Lock()  # pyplot keeps global state: one figure at a time
_CACHE_SECONDS = 60.0


class Charts:
    """A desk's reports, computed at most once a minute, and their pictures."""

    def __init__(self) -> None:
        self.reports: dict[str, tuple[float, MonthlyReport]] = {}
        self.pictures: dict[tuple[str, str], bytes] = {}  # (report and its as_of, plot)


def _report(desk: Desk, charts: Charts, month: str | None) -> MonthlyReport:
    """The month's report (this month by default), computed at most once a minute."""
    now = desk.now()
    text = month or now.strftime("%Y-%m")
    start, end = parse_month(text, now)
    cached = charts.reports.get(text)
    if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
        return cached[1]
    with desk.read() as s:
        report = monthly_report(s, start, end, min(now, end))
    charts.reports[text] = (time.monotonic(), report)
    return report


@login_required
def dashboard(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    try:
        report = _report(desk, request.app.state.charts, request.query_params.get("month"))
    except IngestdError as exc:
        return PlainTextResponse(str(exc).replace("--month", "month"), 400)
    for name in PLOTS:  # drawn now, so the page's images arrive at once
        _picture(request.app.state.charts, report, name)
    year, month = (int(part) for part in report.month.split("-"))
    following = month_start(year, month + 1).strftime("%Y-%m")
    return desk.render(request, "dashboard.html", report=report, plots=list(PLOTS),
                       previous=month_start(year, month - 1).strftime("%Y-%m"),
                       following=following if following <= desk.now().strftime("%Y-%m") else None,
                       csat=_csat(report), generated=datetime.now(desk.services.calendar.zone))


def _csat(report: MonthlyReport) -> str:
    if report.satisfaction_average is None:
        return "no answers yet"
    rate = "" if report.response_rate is None else f", {report.response_rate:.0%} answered"
    return f"{report.satisfaction_average:.1f} / 5{rate}"


@login_required
def plot(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    name = request.path_params["name"]
    if name not in PLOTS:
        return PlainTextResponse("no such plot", 404)
    try:
        report = _report(desk, request.app.state.charts, request.path_params["month"])
    except IngestdError as exc:
        return PlainTextResponse(str(exc), 400)
    return Response(_picture(request.app.state.charts, report, name), media_type="image/png",
                    headers={"cache-control": "private, max-age=60"})


def _picture(charts: Charts, report: MonthlyReport, name: str) -> bytes:
    """The plot as PNG, drawn once for each computed report."""
    key = (f"{report.month}@{report.as_of}", name)
    with _PLOTTING:
        pictures = charts.pictures
        if key not in pictures:
            if len(pictures) > 10 * len(PLOTS):  # old reports' pictures go
                pictures.clear()
            fig = figure(report, name)
            out = io.BytesIO()
            fig.savefig(out, format="png", dpi=DPI)
            import matplotlib.pyplot as plt  # noqa: PLC0415  (loaded by `figure` already)

            plt.close(fig)
            pictures[key] = out.getvalue()
        return pictures[key]


ROUTES = [Route("/dashboard", dashboard),
          Route("/dashboard/plots/{month}/{name}.png", plot)]
