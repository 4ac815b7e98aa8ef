"""Reports on the complaint procedure: the monthly review the seeds ask for, with plots."""

from ingestd.reports.monthly import MonthlyReport, monthly_report, parse_month
from ingestd.reports.text import render_text

__all__ = ["MonthlyReport", "monthly_report", "parse_month", "render_text"]
