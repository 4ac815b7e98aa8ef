"""Noise the generator puts on composed mail: typos, shouting, quoted replies, forwarding.

Real complaint mail is messy; a model trained only on clean sentences fails on the first
customer who cannot spell. Everything here takes an explicit ``random.Random``.
"""

import random
import re
import string

from triage.data import _pools_en as en

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def typo_word(word: str, rng: random.Random) -> str:
    """Swap, drop or double one letter of a word (words under 4 letters stay)."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def add_typos(text: str, rate: float, rng: random.Random) -> str:
    """Put typos into about ``rate`` of the words, keeping line structure."""
    lines = []
    for line in text.split("\n"):
        words = [typo_word(w, rng) if rng.random() < rate else w for w in line.split(" ")]
        lines.append(" ".join(words))
    return "\n".join(lines)


def shout(sentence: str, rng: random.Random) -> str:
    """Upper-case a sentence, sometimes adding exclamation marks."""
    pieces = re.split(r"(\{[a-z]+\})", sentence.rstrip("."))
    loud = "".join(p if p.startswith("{") else p.upper() for p in pieces)
    return loud + rng.choice(("!", "!!", "!!!", "."))


def mail_date(rng: random.Random) -> str:
    """A plausible RFC-ish date for quote and forward headers."""
    day, month = rng.randint(1, 28), rng.choice(_MONTHS)
    hour, minute = rng.randint(7, 22), rng.randint(0, 59)
    return f"{rng.choice(_WEEKDAYS)}, {day} {month} 2025 at {hour:02d}:{minute:02d}"


def quote_reply(body: str, rng: random.Random) -> str:
    """Append a quoted earlier reply from support, the way mail clients do."""
    reply = rng.choice(en.SUPPORT_REPLIES)
    quoted = "\n".join("> " + line for line in reply.split(". "))
    header = f"On {mail_date(rng)}, Customer Service <support@example.test> wrote:"
    return f"{body}\n\n{header}\n{quoted}\n"


def forward(body: str, subject: str, sender: str, rng: random.Random) -> str:
    """Wrap a body as a forwarded message with a short note on top."""
    note = rng.choice((
        "Forwarding my complaint from last week, still no answer.",
        "See below. Nobody has replied to this.",
        "FYI - my colleague sent this and got nothing back.",
        "Sending this again.",
        "",
    ))
    header = (
        "---------- Forwarded message ---------\n"
        f"From: {sender}\nDate: {mail_date(rng)}\nSubject: {subject}\n"
        "To: support@example.test\n"
    )
    return f"{note}\n\n{header}\n{body}"


def random_code(rng: random.Random, letters: int, digits: int) -> str:
    """Random reference such as ``A123456``."""
    head = "".join(rng.choice(string.ascii_uppercase) for _ in range(letters))
    return head + "".join(rng.choice(string.digits) for _ in range(digits))
