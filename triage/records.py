"""Labelled training text and how it is read from CSV or JSONL files.

A file may carry both labels, or only one: a CSV with columns ``complaint_text`` and ``label``
read with ``text_columns=("complaint_text",), category_column="label"`` yields category-only
records (``severity=None``). Training on such records keeps the severity model of the current
model (see ``triage.train``). A missing or empty label cell gives ``None``; an unknown label is
an error that names the file and line.
"""

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.labels import CATEGORIES, SEVERITIES


@dataclass(frozen=True)
class LabelledText:
    """One training example; either label may be unknown."""

    subject: str
    body: str
    category: str | None
    severity: str | None


class RecordsError(ValueError):
    """A training file cannot be used as given; the message says where and why."""


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
                yield number, json.loads(line)


def _label(
    row: Mapping[str, Any], column: str | None, allowed: Sequence[str], where: str,
) -> str | None:
    value = str(row.get(column) or "").strip().lower() if column else ""
    if not value:
        return None
    if value not in allowed:
        raise RecordsError(f"{where}: unknown label {value!r} in column {column!r}; "
                           f"expected one of {', '.join(allowed)}")
    return value


def _texts(row: Mapping[str, Any], columns: Sequence[str], where: str) -> tuple[str, str]:
    missing = [c for c in columns if c not in row]
    if missing:
        raise RecordsError(f"{where}: missing text column(s) {', '.join(missing)}")
    values = [str(row[c] or "") for c in columns]
    if len(values) == 1:
        return "", values[0]
    return values[0], "\n".join(values[1:])


def load_records(
    path: Path | str,
    text_columns: Sequence[str] = ("subject", "body"),
    category_column: str | None = "category",
    severity_column: str | None = "severity",
) -> list[LabelledText]:
    """Read labelled text. With one text column it is the body; with more, the first is the
    subject and the rest are joined into the body."""
    path = Path(path)
    records = []
    for number, row in _rows(path):
        where = f"{path}:{number}"
        subject, body = _texts(row, text_columns, where)
        category = _label(row, category_column, CATEGORIES, where)
        severity = _label(row, severity_column, SEVERITIES, where)
        records.append(LabelledText(subject, body, category, severity))
    if not records:
        raise RecordsError(f"{path}: no records")
    return records
