"""How much of a mail ingestd reads: a bounded parse, so no mail can stop the service.

A mail over a limit is still read, as far as the limit, and says which limits it met
(`Bounded.over`): the pipeline flags its case and logs it, and the raw bytes are kept whole.
Without these bounds a 28 MB base64 text part cost 4.98 GB and a 2,000-deep MIME nesting
a RecursionError in the standard library's parser.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from email.feedparser import BytesFeedParser
from email.message import Message
from email.policy import compat32

from ingestd.mailtext import strip_quoted

_FEED_CHUNK = 1 << 16
MB = 1 << 20
SUBJECT_CHARS = 1000  # of a subject, for the model
QUOTE_WINDOW = 256 * 1024  # characters searched for quoted history


@dataclass(frozen=True)
class ParseLimits:
    """The `[limits]` a parse keeps to (defaults: config.toml)."""

    message_bytes: int = 25 * MB  # read at most this much of a mail
    text_chars: int = 2 * MB  # of body text for triage and display
    mime_parts: int = 200
    mime_depth: int = 50
    triage_chars: int = 100_000  # of that text, what the model reads (2 MB took 4.7 s)


class _Leaf(Message):
    """A part below the depth limit: its content, nested parts and all, is read as text."""

    def get_content_type(self) -> str:
        return "text/plain"

    def get_content_maintype(self) -> str:
        return "text"


class Bounded(BytesFeedParser):
    """compat32's feed parser, with MIME depth and part count bounded.

    Parts deeper than the limit are not parsed further (the parser recurses per level);
    once the part limit is passed the rest of the mail is not fed.
    """

    def __init__(self, limits: ParseLimits) -> None:
        super().__init__(policy=compat32)
        self.limits = limits
        self.parts = 0
        self.over: list[str] = []

    def _new_message(self) -> None:
        self.parts += 1
        deep = len(self._msgstack) >= self.limits.mime_depth  # type: ignore[attr-defined]
        if deep:
            self.note("mime_depth")
        self._factory = _Leaf if deep else Message
        super()._new_message()  # type: ignore[misc]

    def note(self, limit: str) -> None:
        if limit not in self.over:
            self.over.append(limit)

    def read(self, raw: bytes, offset: int = 0) -> Message:
        """Parse `raw` from `offset` (where its header starts) in 64 KiB pieces, as far as
        the limits allow.

        Fed whole, the parser peaks near eight times the mail's size while splitting it into
        lines (264 MB for a 25 MB attachment); in pieces, about three.
        """
        view = memoryview(raw)[:self.limits.message_bytes]
        if len(raw) > self.limits.message_bytes:
            self.note("message_size")
        for start in range(offset, len(view), _FEED_CHUNK):
            if self.parts > self.limits.mime_parts:
                self.note("mime_parts")
                break
            self.feed(bytes(view[start:start + _FEED_CHUNK]))
        message: Message = self.close()
        return message


def payload_prefix(part: Message, limit: int) -> tuple[bytes, bool]:
    """The decoded payload of a leaf part, at most `limit` bytes, and whether it was cut.

    Only the encoded text that can make `limit` bytes is decoded: a 28 MB base64 part
    costs a few MB, not the 200 MB decoding it whole costs.
    """
    payload = part.get_payload()
    if not isinstance(payload, str) or len(payload) <= limit:
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
        return data[:limit], len(data) > limit
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        letters = "".join(payload[:limit * 3 // 2].split())  # lines and their ends: < 1/2
        prefix = letters[:min(len(letters), limit * 4 // 3 + 4) // 4 * 4]
    elif cte == "quoted-printable":
        prefix = payload[:limit * 3]  # "=XX" is the longest a byte gets
    else:
        prefix = payload[:limit]
    clone = copy.copy(part)
    clone.set_payload(prefix)
    decoded = clone.get_payload(decode=True)
    data = decoded if isinstance(decoded, bytes) else b""
    return data[:limit], True


def triage_view(subject: str, text: str, limits: ParseLimits) -> tuple[str, str]:
    """What the model reads of a mail: scoring costs time and memory in the text's length
    (4.7 s and 370 MB for 2 MB), and a complaint says what it is about early."""
    return subject[:SUBJECT_CHARS], text[:limits.triage_chars]


def reply_part(text: str) -> str:
    """The new part of a reply (`strip_quoted`), looked for in the first 256 K characters.

    The reply parser's cost grows with the text (2 s for 2 MB of quoted lines), and a
    reply's own words come first: a longer mail with no history in its first 256 K is kept
    whole.
    """
    if len(text) <= QUOTE_WINDOW:
        return strip_quoted(text)
    head = text[:QUOTE_WINDOW]
    reply = strip_quoted(head)
    return reply if len(reply) < len(head.strip()) else text.strip()
