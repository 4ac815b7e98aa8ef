"""Printing for commands: JSON for scripts, tables that fit the terminal for people.

A table never runs wider than the terminal (or `COLUMNS`): the flexible columns (a subject,
an address) give way first, cut with an ellipsis, then the least needed columns are left
out. Output to a pipe with no `COLUMNS` keeps every column at its natural width.

Customer text (subjects, names, bodies) reaches the terminal only through `terminal_text`
(`ingestd.terminal`). JSON stays the same data, with those characters escaped.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from ingestd.terminal import CONTROL, terminal_text

GAP = 2  # spaces between columns
MIN_FLEX = 10  # a flexible column is not squeezed below this; columns are dropped instead
LONGEST = 72  # no cell is longer, even in a pipe (a subject may run to 998 characters)


def say(text: object) -> None:
    """Print a line that may carry customer text."""
    click.echo(terminal_text(text))


def emit_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # json.dumps escapes C0 itself; C1 and bidi controls only appear inside strings.
    click.echo(CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def plain(value: Any, sep: str = ", ") -> str:
    """A value as people read it, on one line: "-" for nothing, lists joined, ratios to two
    places, customer text made inert."""
    if value is None or value in ([], ()):
        return "-"
    if isinstance(value, list | tuple):
        return terminal_text(sep.join(str(v) for v in value), one_line=True)
    if isinstance(value, float):
        return f"{value:.2f}"
    return terminal_text(value, one_line=True)


@dataclass(frozen=True)
class Col:
    """One column of a table.

    flex: may be cut to fit. drop: left out when the terminal is too narrow, higher first
    (0: always shown). show: how a row's cell is written (default: the value of `key` as
    text, "-" for none).
    """

    key: str
    header: str = ""
    flex: bool = False
    drop: int = 0
    right: bool = False
    show: Callable[[dict[str, Any]], str] | None = None

    @property
    def title(self) -> str:
        return self.header or self.key.upper()


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str | Col]) -> None:
    """Print `rows` as an aligned table no wider than the terminal."""
    if not rows:
        click.echo("(none)")
        return
    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    cells = [[_cell(row, c) for c in cols] for row in rows]
    shown, widths, gap = fit(cols, cells, terminal_width())
    _render([cols[i] for i in shown], [[r[i] for i in shown] for r in cells], widths, gap)


def terminal_width() -> int | None:
    """The width to fit: `COLUMNS`, else the terminal's; None for a pipe (no limit)."""
    columns = shutil.get_terminal_size((0, 0)).columns
    return columns or None


def fit(cols: Sequence[Col], cells: Sequence[Sequence[str]],
        width: int | None) -> tuple[list[int], list[int], int]:
    """Which columns to show (indexes), how wide each is and the gap between them, to fit
    `width`: first the flexible columns give way, then optional columns go, then the gap
    narrows to one space, and only then are flexible columns cut below `MIN_FLEX`."""
    from rich.cells import cell_len  # noqa: PLC0415  (rich loads only when a table prints)

    natural = [max(cell_len(c.title), *(cell_len(r[i]) for r in cells))
               for i, c in enumerate(cols)]
    shown = list(range(len(cols)))

    def squeeze(gap: int, least: int = MIN_FLEX) -> list[int] | None:
        return _squeeze([cols[i] for i in shown], [natural[i] for i in shown], width, gap,
                        least)

    while (widths := squeeze(GAP)) is None:
        droppable = [i for i in shown if cols[i].drop]
        if not droppable:
            widths = squeeze(1) or squeeze(1, least=1)
            return shown, widths or [natural[i] for i in shown], 1
        shown.remove(max(droppable, key=lambda i: cols[i].drop))
    return shown, widths, GAP


def _squeeze(cols: Sequence[Col], natural: Sequence[int], width: int | None, gap: int,
             least: int) -> list[int] | None:
    """Widths within `width`, cutting flexible columns (to no less than `least` each);
    None if that is not enough."""
    total = sum(natural) + gap * (len(natural) - 1)
    if width is None or total <= width:
        return list(natural)
    smallest = [min(least, n) if c.flex else n for c, n in zip(cols, natural, strict=True)]
    room = width - sum(smallest) - gap * (len(natural) - 1)
    if room < 0:
        return None
    for i in _round_robin([i for i, c in enumerate(cols) if c.flex], smallest, natural, room):
        smallest[i] += 1
    return smallest


def _round_robin(flexible: list[int], widths: Sequence[int], natural: Sequence[int],
                 room: int) -> list[int]:
    """The columns that get each spare character, one at a time in turn, up to natural."""
    grow, have = [], list(widths)
    while room > 0 and any(have[i] < natural[i] for i in flexible):
        for i in flexible:
            if room and have[i] < natural[i]:
                have[i] += 1
                grow.append(i)
                room -= 1
    return grow


def _render(cols: Sequence[Col], cells: Sequence[Sequence[str]], widths: Sequence[int],
            gap: int) -> None:
    from rich.console import Console  # noqa: PLC0415  (rich loads only when a table prints)
    from rich.table import Table  # noqa: PLC0415  (rich loads only when a table prints)
    from rich.text import Text  # noqa: PLC0415  (rich loads only when a table prints)

    grid = Table(box=None, pad_edge=False, padding=(0, gap, 0, 0), header_style="bold")
    for col, width in zip(cols, widths, strict=True):
        grid.add_column(Text(col.title), width=width, no_wrap=True, overflow="ellipsis",
                        justify="right" if col.right else "left")
    for row in cells:
        grid.add_row(*(Text(value) for value in row))
    total = sum(widths) + gap * (len(widths) - 1)
    console = Console(file=sys.stdout, width=min(total, terminal_width() or total),
                      soft_wrap=False, highlight=False, emoji=False, markup=False)
    console.print(grid)


def _cell(row: dict[str, Any], col: Col) -> str:
    if col.show is not None:
        return terminal_text(col.show(row), one_line=True)
    value = row.get(col.key)
    text = "-" if value is None else terminal_text(value, one_line=True)
    return text if len(text) <= LONGEST else text[:LONGEST - 1] + "…"
