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
from ingestd.web.desk import Desk, login_required

_PLOTTING = threading.Lock()  # pyplot keeps global state: one figure at a time
_CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, MonthlyReport]] = {}


def _report(desk: Desk, month: str | None) -> MonthlyReport:
    """The month's report (this month by default), computed at most once a minute."""
    now = desk.now()
    text = month or now.strftime("%Y-%m")
    start, end = parse_month(text, now)
    cached = _cache.get(text)
    if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
        return cached[1]
    with desk.read() as s:
        report = monthly_report(s, start, end, min(now, end))
    _cache[text] = (time.monotonic(), report)
    return report


@login_required
def dashboard(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    try:
        report = _report(desk, request.query_params.get("month"))
    except IngestdError as exc:
        return PlainTextResponse(str(exc).replace("--month", "month"), 400)
    return desk.render(request, "dashboard.html", report=report, plots=list(PLOTS),
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
        report = _report(desk, request.path_params["month"])
    except IngestdError as exc:
        return PlainTextResponse(str(exc), 400)
    with _PLOTTING:
        fig = figure(report, name)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI)
        fig.clf()
        import matplotlib.pyplot as plt  # noqa: PLC0415  (loaded by `figure` already)

        plt.close(fig)
    return Response(out.getvalue(), media_type="image/png",
                    headers={"cache-control": "private, max-age=60"})


ROUTES = [Route("/dashboard", dashboard),
          Route("/dashboard/plots/{month}/{name}.png", plot)]
