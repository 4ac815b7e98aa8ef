"""Customer text made inert before it reaches a terminal.

A mail must not be able to drive the terminal of the agent who reads it: an OSC 52 write to
the clipboard, a bare CR that lets later text overwrite what was printed, colours, a window
title, bidi overrides that reorder what is shown.
"""

from __future__ import annotations

import re

# Escape sequences whole (so their arguments do not linger as text): OSC, DCS, PM, APC, SOS
# strings up to their terminator or the line's end, CSI, then any other ESC sequence.
_SEQUENCE = re.compile(r"""
    (?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c\n]* (?:\x07|\x1b\\|\x9c)?
  | (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?
  | \x1b [ -/]* [0-~]?
""", re.VERBOSE)
# C0 but tab and newline, DEL, C1, and the bidi embeddings and overrides.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_text(value: object, *, one_line: bool = False) -> str:
    """Text safe to print: escape sequences and control characters removed, a bare CR (which
    would let later text overwrite the line) read as the line break old mail meant by it."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = CONTROL.sub("", _SEQUENCE.sub("", text))
    return " ".join(text.split()) if one_line else text
