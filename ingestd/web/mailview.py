"""A mail as an agent reads it on the desk: what is new, the quoted history folded away, the
customer's HTML sanitised (nh3: no scripts, no event handlers, no styles, no links into the
desk itself; remote images are refused by the page's CSP), and attachments taken out of
the raw mail to download."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

import nh3

from ingestd.message import decode

_QUOTE_START = re.compile(
    r"^(>|On .{4,200}wrote:\s*$|Le .{4,200}a écrit\s*:\s*$|Am .{4,200}schrieb.{0,80}:\s*$|"
    r"-{2,}\s*Original Message\s*-{2,}|_{10,}\s*$|From: .+$)", re.M | re.I)
HTML_LIMIT = 2 * 1024 * 1024  # larger mail is shown as its text only
_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl",
         "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p",
         "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td",
         "tfoot", "th", "thead", "tr", "u", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
               "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


@dataclass(frozen=True)
class Shown:
    """A message's text split into what is new and the quoted history under it."""

    new: str
    quoted: str


def split_quoted(text: str) -> Shown:
    """The new part of a reply and the history it quotes (folded away on the page)."""
    match = _QUOTE_START.search(text)
    if match is None or not text[:match.start()].strip():
        return Shown(text.strip("\n"), "")
    return Shown(text[:match.start()].rstrip(), text[match.start():].strip("\n"))


def sanitised_html(raw: bytes) -> str | None:
    """The mail's HTML part made inert, or None when it has none."""
    message = email.message_from_bytes(raw)
    for part in message.walk():
        if part.get_content_type() == "text/html" and not _is_attachment(part):
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                return None
            html = payload.decode(part.get_content_charset() or "utf-8", "replace")
            return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES,
                             url_schemes={"http", "https", "mailto"}, url_relative="deny",
                             link_rel="noopener noreferrer nofollow")
    return None


def attachment(raw: bytes, index: int) -> tuple[str, bytes] | None:
    """The `index`-th attachment of a mail (counted as the parser listed them): its file
    name and its bytes."""
    found = [p for p in email.message_from_bytes(raw).walk()
             if not p.is_multipart() and _is_attachment(p)]
    if not 0 <= index < len(found):
        return None
    part = found[index]
    payload = part.get_payload(decode=True)
    name = decode(part.get_filename()) or f"attachment-{index + 1}"
    return name, payload if isinstance(payload, bytes) else b""


def _is_attachment(part: Message) -> bool:
    """As `ingestd.message` decides it, so the desk's numbering matches the stored list."""
    disposition = str(part.get("Content-Disposition", "")).lower()
    return disposition.startswith("attachment") or (
        part.get_filename() is not None and not part.get_content_type().startswith("text/"))
