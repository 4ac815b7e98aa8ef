"""Printing for commands: JSON for scripts, aligned tables for people.

Customer text (subjects, names, bodies) reaches the terminal only through `terminal_text`
(`ingestd.terminal`). JSON stays the same data, with those characters escaped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from ingestd.terminal import CONTROL, terminal_text


def say(text: object) -> None:
    """Print a line that may carry customer text."""
    click.echo(terminal_text(text))


def emit_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # json.dumps escapes C0 itself; C1 and bidi controls only appear inside strings.
    click.echo(CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    text = "" if value is None else terminal_text(value, one_line=True)
    return text if len(text) <= 48 else text[:45] + "..."
