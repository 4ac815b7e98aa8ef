"""Progress bars for people waiting at a terminal: a backlog drain, a report, a purge, an export.

A bar is drawn on standard error and only when standard error is a terminal, so pipes,
systemd and ``--json`` output never see one. Long jobs take a `Tick` (a callable counting
units done) instead of a bar, so the floors below the commands stay free of terminal concerns.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

Tick = Callable[[int], object]


def no_tick(_done: int) -> None:
    """The `Tick` of a caller that shows no progress."""


class _Bar(tqdm):  # type: ignore[misc]  # (tqdm ships no types)
    """tqdm without its monitor thread: a process that runs no other thread forks its
    workers (`ingestd.pool`), and a bar, drawn or not, must not change that."""

    monitor_interval = 0


def bar(description: str, total: int | None = None, unit: str = "it",
        stream: TextIO | None = None) -> tqdm:
    """A tqdm bar on `stream` (standard error), drawn only if it is a terminal.

    `total` None counts without a percentage (a drain does not know its backlog ahead).
    The bar is removed when done, so the command's own summary line stays the last word.
    """
    out = stream or sys.stderr
    return _Bar(total=total, desc=description, unit=unit, file=out, leave=False,
                disable=not out.isatty(), dynamic_ncols=True)


class AboveBars:
    """A text stream whose lines are printed above any bar being drawn, not through it.

    Log lines of `run --once` go through it, so a terminal shows the log and one clean bar.
    When standard error is no terminal no bar can be drawn, and lines are written plainly:
    a backlog logs thousands of them, and going round the bars costs five times as much.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._partial = ""
        self._direct = not sys.stderr.isatty()

    def write(self, text: str) -> int:
        if self._direct:
            return self.out.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            tqdm.write(line, file=self.out)
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()
