"""Labelled training text and how it is read from CSV or JSONL files.

A file may carry both labels, or only one: a CSV with columns ``complaint_text`` and ``label``
read with ``LabelColumns(text=("complaint_text",), category="label", severity=None)`` yields
category-only records (``severity=None``). Training on such records keeps the severity model of
the current model (see ``triage.train``). A missing or empty label cell gives ``None``.

Categories are an admin's own: ``categories`` lists the names allowed (``[triage] categories``
in config.toml, SPEC's nine by default), or ``None`` to take whatever the file uses. An unknown
label is a one-line error naming the file, the line and the configured names. Severities stay
the four SPEC levels; ``severity_map`` translates other codes (``{"0": "critical", ...}``).

Text is read as the pipeline shows it to the model (``triage.text.served_text``): HTML made
plain (a JSONL ``body_html`` field stands for an HTML-only mail), quoted history cut off.
"""

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.labels import CATEGORIES, SEVERITIES
from triage.text import served_text

CORRECTION = "correction"  # origin of a record that an agent labelled


@dataclass(frozen=True)
class LabelledText:
    """One training example; any label may be unknown.

    ``escalate`` is the gold "must a manager hear of it now"; unknown, it follows severity
    (critical escalates). ``origin`` says where the example came from (``CORRECTION`` for an
    agent's label on a case), for the model card.
    """

    subject: str
    body: str
    category: str | None
    severity: str | None
    escalate: bool | None = None
    origin: str = ""

    @property
    def must_escalate(self) -> bool | None:
        """The escalation label, given or implied by a known severity."""
        if self.escalate is not None:
            return self.escalate
        return None if self.severity is None else self.severity == SEVERITIES[-1]


@dataclass(frozen=True)
class LabelColumns:
    """Which columns of a file hold the text and the labels."""

    text: tuple[str, ...] = ("subject", "body")
    category: str | None = "category"
    severity: str | None = "severity"
    escalate: str | None = "escalate"


@dataclass(frozen=True)
class Taxonomy:
    """The category names a file may use (``None``: any) and how to read its severity codes."""

    categories: tuple[str, ...] | None = CATEGORIES
    severity_map: Mapping[str, str] = field(default_factory=dict)


class RecordsError(ValueError):
    """A training file cannot be used as given; the message says where and why."""


def parse_severity_map(spec: str) -> dict[str, str]:
    """``"0=critical,1=high"`` as a mapping; every target must be one of the four severities."""
    mapping = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        code, sep, severity = item.partition("=")
        if not sep or severity.strip().lower() not in SEVERITIES:
            raise RecordsError(f"bad severity map entry {item!r}: write CODE=SEVERITY with "
                               f"SEVERITY one of {', '.join(SEVERITIES)}")
        mapping[code.strip().lower()] = severity.strip().lower()
    return mapping


def _rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson", ".json"):
        raise RecordsError(f"{path}: unsupported file type {suffix!r}; use .csv or .jsonl")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if suffix == ".csv":
            yield from enumerate(csv.DictReader(handle), start=2)
            return
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, _json_row(line, f"{path}:{number}")


def _json_row(line: str, where: str) -> Mapping[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordsError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise RecordsError(f"{where}: expected a JSON object")
    return row


def _cell(row: Mapping[str, Any], column: str | None) -> str:
    value = row.get(column) if column else None
    return "" if value is None else str(value).strip().lower()


def _category(row: Mapping[str, Any], column: str | None, taxonomy: Taxonomy,
              where: str) -> str | None:
    value = _cell(row, column)
    allowed = taxonomy.categories
    if value and allowed is not None and value not in allowed:
        raise RecordsError(
            f"{where}: unknown category {value!r} in column {column!r}; the configured "
            f"categories are {', '.join(allowed)} (set [triage] categories in config.toml, "
            "or train with --categories-from-data)")
    return value or None


def _severity(row: Mapping[str, Any], column: str | None, taxonomy: Taxonomy,
              where: str) -> str | None:
    value = _cell(row, column)
    value = taxonomy.severity_map.get(value, value)
    if value and value not in SEVERITIES:
        raise RecordsError(
            f"{where}: unknown severity {value!r} in column {column!r}; expected one of "
            f"{', '.join(SEVERITIES)} (map other codes with --severity-map 0=critical,...)")
    return value or None


def _escalate(row: Mapping[str, Any], column: str | None, where: str) -> bool | None:
    value = _cell(row, column)
    if not value:
        return None
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise RecordsError(f"{where}: escalate must be true or false, not {value!r}")


def _texts(row: Mapping[str, Any], columns: Sequence[str], where: str) -> tuple[str, str]:
    missing = [c for c in columns if c not in row]
    if missing == ["body"] and "body_html" in row:
        return str(row.get("subject") or ""), served_text(html=str(row["body_html"] or ""))
    if missing:
        raise RecordsError(f"{where}: missing text column(s) {', '.join(missing)}")
    values = [str(row[c] or "") for c in columns]
    if len(values) == 1:
        return "", served_text(values[0])
    return values[0], served_text("\n".join(values[1:]))


def load_records(
    path: Path | str, columns: LabelColumns = LabelColumns(), taxonomy: Taxonomy = Taxonomy(),
) -> list[LabelledText]:
    """Read labelled text. With one text column it is the body; with more, the first is the
    subject and the rest are joined into the body."""
    path = Path(path)
    records = []
    for number, row in _rows(path):
        where = f"{path}:{number}"
        subject, body = _texts(row, columns.text, where)
        records.append(LabelledText(
            subject, body,
            _category(row, columns.category, taxonomy, where),
            _severity(row, columns.severity, taxonomy, where),
            _escalate(row, columns.escalate, where),
        ))
    if not records:
        raise RecordsError(f"{path}: no records")
    return records
