"""Gather the writers' parts into one corpus file, checking every mail against its brief.

Each writer leaves ``part-NNN.jsonl`` files in a folder of its own; this keeps the mails whose
labels are the brief's and which have a body, in brief order, and says what it dropped.

    python -m triage.data.assemble OUT.jsonl WRITER_DIR [WRITER_DIR ...]
"""

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage.labels import CATEGORIES, SEVERITIES

KEYS = ("id", "subject", "body", "body_html", "category", "severity", "escalate", "language",
        "industry", "style")


def _mails(folder: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for part in sorted(folder.glob("part-*.jsonl")):
        for number, line in enumerate(part.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                yield f"{part}:{number}", json.loads(line)


def problem(mail: dict[str, Any]) -> str | None:
    """Why a mail cannot join the corpus, or None."""
    if mail.get("category") not in CATEGORIES or mail.get("severity") not in SEVERITIES:
        return "labels outside the taxonomy"
    if mail.get("escalate") is not (mail["severity"] == SEVERITIES[-1]):
        return "escalate disagrees with severity (LABELLING.md: escalate iff critical)"
    if not str(mail.get("body") or mail.get("body_html") or "").strip():
        return "no body"
    return None


def assemble(folders: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """The corpus rows, unique by id, and one line per mail left out."""
    rows: dict[str, dict[str, Any]] = {}
    dropped = []
    for folder in folders:
        for where, mail in _mails(folder):
            reason = problem(mail)
            if reason:
                dropped.append(f"{where}: {reason}")
                continue
            rows[mail["id"]] = {k: mail[k] for k in KEYS if mail.get(k) not in (None, "")}
            rows[mail["id"]].setdefault("subject", "")
    return [rows[k] for k in sorted(rows)], dropped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args(argv)
    rows, dropped = assemble(args.folders)
    with args.out.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    for line in dropped:
        print(f"dropped {line}", file=sys.stderr)
    print(f"{len(rows)} mails -> {args.out} ({len(dropped)} dropped)")


if __name__ == "__main__":
    main()
