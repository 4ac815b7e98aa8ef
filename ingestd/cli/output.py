"""Printing for commands: JSON for scripts, aligned tables for people.

Customer text (subjects, names, bodies) reaches the terminal only through `terminal_text`:
a mail must not be able to drive the agent's terminal (an OSC 52 write to the clipboard, a
bare CR that hides what was printed before it, colours, a title, bidi overrides). JSON
stays the same data, with those characters escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import click

# Escape sequences whole (so their arguments do not linger as text): OSC, DCS, PM, APC, SOS
# strings up to their terminator or the line's end, CSI, then any other ESC sequence.
_SEQUENCE = re.compile(r"""
    (?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c\n]* (?:\x07|\x1b\\|\x9c)?
  | (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?
  | \x1b [ -/]* [0-~]?
""", re.VERBOSE)
# C0 but tab and newline, DEL, C1, and the bidi embeddings and overrides.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_text(value: object, *, one_line: bool = False) -> str:
    """Text safe to print: escape sequences and control characters removed, a bare CR (which
    would let later text overwrite the line) read as the line break old mail meant by it."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", _SEQUENCE.sub("", text))
    return " ".join(text.split()) if one_line else text


def say(text: object) -> None:
    """Print a line that may carry customer text."""
    click.echo(terminal_text(text))


def emit_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # json.dumps escapes C0 itself; C1 and bidi controls only appear inside strings.
    click.echo(_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


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
