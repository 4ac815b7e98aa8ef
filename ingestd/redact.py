"""Finding a person in stored text and mail, and taking them out (for `ingestd.privacy`).

A person is their address and the names they gave. Mail is searched as bytes and as a
reader sees it: headers with their encoded words decoded, and every body part decoded from
base64 or quoted-printable in its charset, because an address that only appears inside an
encoded body is just as much theirs. Redaction replaces each mention with `[erased]` and
keeps the rest of the mail as it came.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from email import message_from_bytes
from email.header import Header, decode_header, make_header
from email.message import Message
from email.policy import compat32
from functools import cached_property
from typing import Any

ERASED = "[erased]"
MIN_NAME = 4  # shorter names ("Al") would erase parts of ordinary words
_ENCODED = (b"base64", b"quoted-printable", b"=?")
_BASE64_BLOCK = re.compile(rb"(?m)^(?:[A-Za-z0-9+/]{4,}={0,2}[ \t]*\r?\n)+")
_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_CHARSET = re.compile(rb'charset\s*=\s*"?([a-z0-9_.:-]+)')
_PLAIN_CHARSETS = {b"us-ascii", b"ascii", b"utf-8", b"utf8", b"iso-8859-1", b"latin1",
                   b"latin-1", b"windows-1252", b"iso-8859-15"}


@dataclass(frozen=True)
class Person:
    """What identifies someone in text: their address and, where known, their names."""

    address: str
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, address: str, names: Iterable[str | None] = ()) -> Person:
        usable = {" ".join(n.split()) for n in names if n and len(n.strip()) >= MIN_NAME}
        return cls(address.strip().lower(), tuple(sorted(usable, key=len, reverse=True)))

    @property
    def needles(self) -> tuple[str, ...]:
        """Lower-cased strings a mention contains: for a database's LIKE."""
        return (self.address, *(n.lower() for n in self.names))

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        parts = [re.escape(self.address)] + [
            r"(?<!\w)" + r"\s+".join(map(re.escape, n.split())) + r"(?!\w)" for n in self.names]
        return re.compile("|".join(parts), re.IGNORECASE)

    @cached_property
    def _firsts(self) -> tuple[str, ...]:
        """What every mention contains, lower-cased: a cheap test before the pattern's."""
        return (self.address, *(n.split()[0].lower() for n in self.names))

    def in_text(self, text: str | None) -> bool:
        if not text:
            return False
        lowered = text.lower()
        return any(first in lowered for first in self._firsts) and bool(
            self._pattern.search(text))

    def redact_text(self, text: str) -> str:
        return self._pattern.sub(ERASED, text)

    def redact_value(self, value: Any) -> Any:
        """A JSON value with every string in it redacted."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, list):
            return [self.redact_value(v) for v in value]
        if isinstance(value, dict):
            return {self.redact_text(k): self.redact_value(v) for k, v in value.items()}
        return value

    def in_mail(self, raw: bytes | None) -> bool:
        """True when the mail names the person in its bytes or in its decoded text."""
        if not raw:
            return False
        lowered = raw.lower()
        firsts = (first.encode("utf-8") for first in self._firsts)
        if any(first in lowered for first in firsts) and self.in_text(
                raw.decode("utf-8", "replace")):
            return True
        if not any(mark in lowered for mark in _ENCODED):
            return False
        if self.in_text(_quick_decode(raw, lowered)):
            return True
        return _unusual_charset(lowered) and self.in_text(mail_text(raw))

    def redact_mail(self, raw: bytes) -> bytes:
        """The mail with every mention of the person replaced, in bytes and decoded parts."""
        raw = self._redact_bytes(raw)
        if not self.in_mail(raw):
            return raw
        msg = message_from_bytes(raw, policy=compat32)
        for part in msg.walk():
            self._redact_headers(part)
            if not part.is_multipart():
                self._redact_payload(part)
        return self._redact_bytes(msg.as_bytes(policy=compat32))

    def _redact_bytes(self, raw: bytes) -> bytes:
        return self._byte_pattern.sub(ERASED.encode(), raw)

    @cached_property
    def _byte_pattern(self) -> re.Pattern[bytes]:
        return re.compile(self._pattern.pattern.encode("utf-8"), re.IGNORECASE)

    def _redact_headers(self, part: Message) -> None:
        items = part.items()
        readable = [(name, _header_text(value)) for name, value in items]
        if not any(self.in_text(text) for _name, text in readable):
            return
        for name in {name for name, _value in items}:
            del part[name]
        for (name, value), (_name, text) in zip(items, readable, strict=True):
            if self.in_text(text):
                clean = self.redact_text(text)
                part[name] = clean if clean.isascii() else Header(clean, "utf-8").encode()
            else:
                part[name] = value

    def _redact_payload(self, part: Message) -> None:
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding not in ("base64", "quoted-printable"):
            return
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return
        charset = part.get_content_charset() or "utf-8"
        text = _decode(payload, charset)
        if not self.in_text(text):
            return
        data = self.redact_text(text).encode(_codec(charset), "replace")
        encoded = (base64.encodebytes(data) if encoding == "base64"
                   else quopri.encodestring(data))
        part.set_payload(encoded.decode("ascii"))


def mail_text(raw: bytes) -> str:
    """Everything a reader of the mail could see: decoded headers and decoded body parts."""
    msg = message_from_bytes(raw, policy=compat32)
    pieces: list[str] = []
    for part in msg.walk():
        pieces += [f"{name}: {_header_text(value)}" for name, value in part.items()]
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                pieces.append(_decode(payload, part.get_content_charset() or "utf-8"))
    return "\n".join(pieces)


def _quick_decode(raw: bytes, lowered: bytes) -> str:
    """The encoded pieces of a mail decoded, without parsing its structure.

    Searching needs no MIME tree: quoted-printable undone over the whole mail, every block
    of base64 lines and every encoded word decoded, read as UTF-8 or else Latin-1. Parsing
    each mail costs ten times as much, and an erasure reads every mail kept.
    """
    pieces = []
    if b"quoted-printable" in lowered:
        pieces.append(_as_text(binascii.a2b_qp(raw)))
    for block in _BASE64_BLOCK.finditer(raw):
        with suppress(binascii.Error, ValueError):
            pieces.append(_as_text(binascii.a2b_base64(block.group())))
    pieces += [_header_text(word.decode("ascii")) for word in _ENCODED_WORD.findall(raw)]
    return "\n".join(pieces)


def _as_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _unusual_charset(lowered: bytes) -> bool:
    """True when a charset other than ASCII, UTF-8 and Latin-1 is named: then parse."""
    return any(name not in _PLAIN_CHARSETS for name in _CHARSET.findall(lowered))


def _header_text(value: Any) -> str:
    try:
        return str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def _decode(payload: bytes, charset: str) -> str:
    return payload.decode(_codec(charset), "replace")


def _codec(charset: str) -> str:
    """The charset when Python knows it (GB2312 mail is read as its superset), else UTF-8."""
    charset = charset.strip().lower()
    if charset in ("gb2312", "gbk"):
        return "gb18030"
    try:
        codecs.lookup(charset)
    except LookupError:
        return "utf-8"
    return charset
