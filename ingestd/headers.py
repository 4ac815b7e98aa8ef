"""Header fields as wild mail writes them, read as a mail client would.

Real mail breaks RFC 5322 and RFC 2047 in ways people never see, because their mail client
forgives them: encoded words split inside a character or folded in the middle, legacy
charset labels, raw 8-bit Subject and From in the sender's local charset, a From naming two
authors or none, an mbox `From ` line or a saved-file banner above the header. A customer
whose client forgave the mail expects us to read their address and subject as well.
"""

from __future__ import annotations

import binascii
import re
from email.message import Message
from email.quoprimime import header_decode
from email.utils import getaddresses

from ingestd.charsets import codecs_for, decode_as, guess, is_iso_2022

# An RFC 2047 word; the text may hold spaces left by a fold made inside the word.
_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_HIDDEN = re.compile("\ue000(\\d+)\ue001")
_ADDRESS = re.compile(r"[^\s<>()\[\]\",;:@]+@[^\s<>()\[\]\",;:@]+")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_FIELD = re.compile(rb"[!-9;-~]+[ \t]*:")
_KNOWN_FIELD = re.compile(rb"^(from|sender|reply-to|to|subject|date|message-id|received|"
                          rb"return-path|mime-version|content-type|delivered-to)[ \t]*:",
                          re.I | re.M)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_BOM = b"\xef\xbb\xbf"
_MAX_LEADING_LINES = 5
# Who wrote the mail, in the order mail clients fall back when From is missing or unreadable.
WRITER_FIELDS = ("From", "Sender", "Reply-To", "Return-Path")


def header_start(raw: bytes) -> int | None:
    """Where the header block starts, or None when `raw` has none.

    0 for a proper mail. A few leading lines that are no header field (an mbox `From ` or
    `>From ` line, Outlook's "Microsoft Mail Internet Headers" banner, blank lines, a byte
    order mark) are stepped over when a header block with a well-known field follows them.
    """
    offset = len(_BOM) if raw.startswith(_BOM) else 0
    for _ in range(_MAX_LEADING_LINES + 1):
        end = raw.find(b"\n", offset)
        if _FIELD.match(raw, offset):
            return offset if offset == 0 or _known_head(raw, offset) else None
        if end < 0:
            return None
        offset = end + 1
    return None


def _known_head(raw: bytes, offset: int) -> bool:
    blank = _BLANK_LINE.search(raw, offset)
    return _KNOWN_FIELD.search(raw[offset:blank.start() if blank else len(raw)]) is not None


def decode_words(text: str) -> str:
    """RFC 2047 words decoded as clients do: adjacent words of one charset are joined before
    decoding (senders split characters between them), labels mean their supersets, and a
    word that cannot be read is kept as it came."""
    pieces: list[str | tuple[bytes, str]] = []
    end = 0
    for match in _WORD.finditer(text):
        between, charset = text[end:match.start()], match.group(1)
        data = _word_bytes(match.group(2), match.group(3)) if codecs_for(charset) else None
        end = match.end()
        last = pieces[-1] if pieces else None
        if data is None:
            pieces += [between, match.group(0)]
        elif isinstance(last, tuple) and not between.strip() and last[1] == charset.lower():
            pieces[-1] = (last[0] + data, last[1])
        elif isinstance(last, tuple) and not between.strip():
            pieces.append((data, charset.lower()))
        else:
            pieces += [between, (data, charset.lower())]
    pieces.append(text[end:])
    return "".join(p if isinstance(p, str) else _word_text(*p) for p in pieces)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    if encoding in "qQ":
        return header_decode(text).encode("latin-1", "replace")
    letters = "".join(text.split())
    try:
        return binascii.a2b_base64(letters + "=" * (-len(letters) % 4))
    except binascii.Error:
        return None


def _word_text(data: bytes, charset: str) -> str:
    decoded = decode_as(data, charset)
    return decoded if decoded is not None else data.decode(codecs_for(charset)[0], "replace")


def parse_addresses(value: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address field, names decoded.

    Encoded words are hidden from the address parser: one decoding to "Ann <ann@x>" is a
    name, and must never become an address. Display names left unquoted around an address
    ("John Doe john@example.net") still give the address.
    """
    words: list[str] = []
    found = []
    for name, address in getaddresses([_hide_words(value, words)]):
        candidates = _ADDRESS.findall(address)
        if not candidates or "\ue000" in candidates[-1]:
            continue
        shown = decode_words(_HIDDEN.sub(lambda m: words[int(m.group(1))], name))
        found.append((" ".join(shown.split()), candidates[-1].strip(".").lower()))
    return found


def is_ambiguous(value: str) -> bool:
    """One mailbox of the list names two addresses ("Ann <ann@x> <eve@y>", no comma between):
    a forger's trick, not several authors, so no one of them can be trusted."""
    return any(len([a for _, a in getaddresses([item]) if "@" in a]) > 1
               for item in _list_items(_hide_words(value, [])))


def _hide_words(value: str, words: list[str]) -> str:
    def hide(match: re.Match[str]) -> str:
        words.append(match.group(0))
        return f"\ue000{len(words) - 1}\ue001"

    return _WORD.sub(hide, value)


def _list_items(value: str) -> list[str]:
    """The items of an address list: split at commas outside quotes, comments and <>."""
    items, start, depth, quoted, escaped = [], 0, 0, False, False
    for index, char in enumerate(value):
        if escaped or char == "\\":
            escaped = not escaped
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "(<":
            depth += 1
        elif not quoted and char in ")>":
            depth = max(depth - 1, 0)
        elif not quoted and char == "," and depth == 0:
            items.append(value[start:index])
            start = index + 1
    return [*items, value[start:]]


class Headers:
    """The header fields of one mail as text.

    Raw 8-bit values are UTF-8 when they read as such; otherwise they are in the sender's
    local charset, which is the one the mail declares for its text, or else a guess from
    all its raw 8-bit header bytes and an unlabelled body.
    """

    def __init__(self, msg: Message) -> None:
        self._msg = msg
        self._codec: str | None = None

    def raw(self, name: str) -> list[bytes]:
        """Every value of field `name` as the bytes that came, unfolded."""
        wanted = name.lower()
        return [_FOLD.sub(b"", value.encode("utf-8", "surrogateescape"))
                for key, value in self._msg.raw_items() if key.lower() == wanted]

    def text(self, name: str) -> str:
        """The first value of an unstructured field (Subject) for people to read."""
        values = self.raw(name)
        return clean(decode_words(self._chars(values[0]))) if values else ""

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, address) pairs of every value of an address field."""
        return [pair for value in self.raw(name) for pair in parse_addresses(self._chars(value))]

    def writer(self) -> tuple[str | None, str | None]:
        """Who wrote the mail: the first author of From (RFC 5322 allows several), else the
        first address of Sender, Reply-To or Return-Path; nobody when From is ambiguous."""
        if any(is_ambiguous(self._chars(value)) for value in self.raw("From")):
            return None, None
        for field in WRITER_FIELDS:
            found = self.addresses(field)
            if found:
                return found[0][0] or None, found[0][1]
        return None, None

    def _chars(self, data: bytes) -> str:
        if is_iso_2022(data):
            return decode_as(data, "iso-2022-jp") or data.decode("latin-1")
        if data.isascii():
            return data.decode("ascii")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode(self._eight_bit_codec(), "replace")

    def _eight_bit_codec(self) -> str:
        if self._codec is None:
            self._codec = self._choose_codec()
        return self._codec

    def _choose_codec(self) -> str:
        sample = b" ".join(value for _, value in self._raw_items() if not value.isascii())
        for label in _declared_charsets(self._msg):
            if label not in {"us-ascii", "utf-8", "ascii"} and decode_as(sample, label):
                return codecs_for(label)[0]
        return guess(sample + b"\n" + _unlabelled_body(self._msg))

    def _raw_items(self) -> list[tuple[str, bytes]]:
        return [(key, value.encode("utf-8", "surrogateescape"))
                for key, value in self._msg.raw_items()]


def clean(text: str) -> str:
    """One line of text for people: whitespace runs made one space, NUL bytes dropped."""
    return " ".join(text.split()).replace("\x00", "")


def _declared_charsets(msg: Message) -> list[str]:
    """The charsets the mail names for its text, the top level first (the first few parts)."""
    found = []
    for count, part in enumerate(msg.walk()):
        charset = part.get_content_charset()
        if charset:
            found.append(charset)
        if count >= 8:
            break
    return found


def _unlabelled_body(msg: Message) -> bytes:
    """The start of the first text part that names no charset: more text for the guess."""
    for count, part in enumerate(msg.walk()):
        if part.get_content_maintype() == "text" and part.get_content_charset() is None:
            payload = part.get_payload(decode=True)
            return payload[:4096] if isinstance(payload, bytes) else b""
        if count >= 8:
            break
    return b""
