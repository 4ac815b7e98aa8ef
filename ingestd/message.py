"""A received mail as the rest of ingestd sees it: parsed once, immutable.

Parsing uses the standard library's `email` package with the compat32 policy: measured on
these machines it parses about three times faster than mail-parser and keeps going on broken
MIME where the modern policy raises. mail-parser-reply strips quoted history and signatures
from the text used for triage and display; the raw bytes are kept untouched elsewhere.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from bs4 import BeautifulSoup
from mailparser_reply import EmailReplyParser

_REPLY_PARSER = EmailReplyParser(languages=["en", "de", "fr", "es"])
_MESSAGE_ID_HEADER = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)
_MSGID = re.compile(r"<([^<>\s]+)>")
_ORDER = re.compile(
    r"\b(?:order|bestellung|commande|pedido|invoice|rechnung|facture|factura)"
    r"(?:\s*(?:no\.?|nr\.?|number|nummer|num[ée]ro|n[º°o]\.?|#|id))?\s*[:#]?\s*"
    r"(#?[A-Z]{0,4}-?\d[\dA-Z-]{3,19})\b", re.I)
_PHONE = re.compile(r"(?<![\w#+-])(\+?\(?\d[\d ()./-]{6,18}\d)(?![\w-])")


@dataclass(frozen=True)
class Attachment:
    name: str | None
    content_type: str
    size: int


@dataclass(frozen=True)
class ParsedMessage:
    """What ingestd needs of one mail; every string already decoded to text."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender_name: str | None
    sender_address: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str
    reply_text: str
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"
    return_path: str | None = None
    order_numbers: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()

    def referenced_ids(self) -> tuple[str, ...]:
        """Message-IDs this mail answers, nearest first."""
        return tuple(dict.fromkeys((*self.in_reply_to, *reversed(self.references))))


# Headers the filters and threading look at; the rest stay in the raw message.
KEPT_HEADERS = ("auto-submitted", "precedence", "x-auto-response-suppress", "list-id",
                "list-unsubscribe", "x-autoreply", "x-autorespond", "x-loop",
                "x-ingestd-case", "delivered-to")


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID of raw bytes without parsing the whole message."""
    head = raw.replace(b"\r\n", b"\n").partition(b"\n\n")[0]
    match = _MESSAGE_ID_HEADER.search(head)
    return _first_id(match.group(1).decode("ascii", "replace")) if match else None


def dedup_key(raw: bytes) -> str:
    """Message-ID plus a digest of the body: the same mail however and wherever delivered.

    Line endings are normalised because IMAP delivers CRLF and Maildir LF for the same mail.
    Without a Message-ID the whole message is the key.
    """
    normalised = raw.replace(b"\r\n", b"\n")
    head, _, body = normalised.partition(b"\n\n")
    match = _MESSAGE_ID_HEADER.search(head)
    message_id = match.group(1).strip() if match else b""
    digest = hashlib.sha256(body if message_id else normalised).hexdigest()
    return hashlib.sha256(message_id + b"\0" + digest.encode()).hexdigest()


def parse_bytes(raw: bytes) -> ParsedMessage:
    """Parse raw RFC 5322 bytes; never raises on malformed MIME, only on unusable input."""
    msg = message_from_bytes(raw, policy=compat32)
    name, address = _sender(msg)
    text = _body_text(msg)
    return ParsedMessage(
        message_id=_first_id(msg.get("Message-ID")),
        in_reply_to=_ids(msg.get("In-Reply-To")),
        references=_ids(msg.get("References")),
        subject=decode(msg.get("Subject")),
        sender_name=name,
        sender_address=address,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        date=_date(msg.get("Date")),
        text=text,
        reply_text=strip_quoted(text),
        attachments=tuple(_attachments(msg)),
        headers={h: decode(msg.get(h)) for h in KEPT_HEADERS if msg.get(h) is not None},
        content_type=msg.get_content_type(),
        return_path=_return_path(msg),
        order_numbers=find_order_numbers(f"{decode(msg.get('Subject'))}\n{text}"),
        phone_numbers=find_phone_numbers(text),
    )


def decode(value: object) -> str:
    """An RFC 2047 header as text; undecodable words are kept as they came."""
    if value is None:
        return ""
    raw = str(value)
    try:
        decoded = str(make_header(decode_header(raw)))
    except (LookupError, UnicodeError, ValueError, AssertionError):
        decoded = raw
    return " ".join(decoded.split()).replace("\x00", "")


def strip_quoted(text: str) -> str:
    """The new part of a reply: quoted history and signature removed."""
    try:
        replies = _REPLY_PARSER.read(text=text).replies
    except Exception:  # noqa: BLE001  (a third-party heuristic must never lose a message)
        return text.strip()
    body = replies[0].body.strip() if replies else ""
    return body or text.strip()


def find_order_numbers(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(1).lstrip("#") for m in _ORDER.finditer(text)))


def find_phone_numbers(text: str) -> tuple[str, ...]:
    found = []
    for match in _PHONE.finditer(text):
        number = match.group(1).strip()
        digits = re.sub(r"\D", "", number)
        if 8 <= len(digits) <= 15 and not _looks_like_date(number):
            found.append(number)
    return tuple(dict.fromkeys(found))


def _looks_like_date(candidate: str) -> bool:
    return bool(re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}", candidate))


def _sender(msg: Message) -> tuple[str | None, str | None]:
    name, address = parseaddr(decode(msg.get("From")))
    return (name or None), (address.lower() if "@" in address else None)


def _addresses(msg: Message, header: str) -> tuple[str, ...]:
    values = [decode(v) for v in msg.get_all(header, [])]
    return tuple(a.lower() for _, a in getaddresses(values) if "@" in a)


def _return_path(msg: Message) -> str | None:
    value = msg.get("Return-Path")
    if value is None:
        return None
    return parseaddr(str(value))[1].lower()


def _ids(value: object) -> tuple[str, ...]:
    return tuple(_MSGID.findall(decode(value))) if value is not None else ()


def _first_id(value: object) -> str | None:
    if value is None:
        return None
    ids = _ids(value)
    return ids[0] if ids else (str(value).strip() or None)


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _body_text(msg: Message) -> str:
    plain, html = _first_text_parts(msg)
    if plain is not None:
        return _clean(plain)
    if html is not None:
        return _clean(html_to_text(html))
    return ""


def _first_text_parts(msg: Message) -> tuple[str | None, str | None]:
    plain = html = None
    for part in msg.walk():
        if part.is_multipart() or _is_attachment(part):
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _payload_text(part)
        elif kind == "text/html" and html is None:
            html = _payload_text(part)
    return plain, html


def _payload_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload())
    for charset in (part.get_content_charset(), "utf-8", "windows-1252"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


_BLOCKS = ["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
           "table", "ul", "ol"]


def html_to_text(html: str) -> str:
    """Visible text of an HTML body; scripts and styles are dropped, nothing is executed."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    for tag in soup(["br"]):
        tag.replace_with("\n")
    for tag in soup(_BLOCKS):
        tag.append("\n")
    lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
    return "\n".join(lines)


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\x00", "")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).lower()
    return disposition.startswith("attachment") or (
        part.get_filename() is not None and not part.get_content_type().startswith("text/"))


def _attachments(msg: Message) -> list[Attachment]:
    found = []
    for part in msg.walk():
        if part.is_multipart() or not _is_attachment(part):
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        found.append(Attachment(decode(part.get_filename()) or None, part.get_content_type(), size))
    return found
