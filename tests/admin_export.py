"""A helpdesk export as an admin brings it: numeric category codes, one code for 70 % of the
mail, several under 1 %, two with one and two examples, severities as priority numbers.

Made from the shipped corpus so the labels are right; only their names and shares are the
helpdesk's. Used by ``tests/test_retrain_admin.py`` and ``bench/bench_retrain.py``.
"""

import csv
from pathlib import Path

from triage.records import LabelledText

# helpdesk code -> the corpus categories it holds; code 10 is the 70 % catch-all
CODES = {
    "10": ("billing", "delivery", "product_quality", "service_outage", "other"),
    "20": ("account_access",),
    "30": ("staff_conduct",),
    "40": ("privacy_security",),
    "50": ("safety_legal",),
}
SHARES = {"20": 0.13, "30": 0.1, "40": 0.045, "50": 0.008}  # of the whole export
RARE = {"60": ("staff_conduct", 2), "70": ("privacy_security", 1)}  # code: (topic, examples)
PRIORITY = {"critical": "1", "high": "2", "medium": "3", "low": "4"}
SEVERITY_MAP = "1=critical,2=high,3=medium,4=low"


def export_rows(records: list[LabelledText], total: int) -> list[dict[str, str]]:
    """``total`` rows (about) with the shares above, in a stable order."""
    pools = {code: [r for r in records if r.category in topics] for code, topics in CODES.items()}
    counts = {code: max(3, round(total * share)) for code, share in SHARES.items()}
    counts["10"] = round(total * 0.7)
    rows = []
    for code, count in counts.items():
        rows += [_row(r, code) for r in pools[code][:count]]
    for code, (topic, examples) in RARE.items():
        spare = [r for r in records if r.category == topic][-examples:]
        rows += [_row(r, code) for r in spare]
    return rows


def _row(record: LabelledText, code: str) -> dict[str, str]:
    return {"title": record.subject, "description": record.body, "queue": code,
            "priority": PRIORITY[record.severity or "medium"]}


def write_export(path: Path, rows: list[dict[str, str]]) -> Path:
    """The rows as a CSV file."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["title", "description", "queue", "priority"])
        writer.writeheader()
        writer.writerows(rows)
    return path
