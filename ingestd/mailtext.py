"""The text of a mail as people read it: HTML made plain, history and signature cut off,
and the order and phone numbers a complaint mentions (the seeds ask for order details).

mail-parser-reply strips quoted history and signatures in English, German, French and
Spanish; BeautifulSoup turns HTML into text without running anything in it.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from mailparser_reply import EmailReplyParser

_REPLY_PARSER = EmailReplyParser(languages=["en", "de", "fr", "es"])
_ORDER = re.compile(
    r"\b(?:order|bestellung|commande|pedido|invoice|rechnung|facture|factura)"
    r"(?:\s*(?:no\.?|nr\.?|number|nummer|num[ée]ro|n[º°o]\.?|#|id))?\s*[:#]?\s*"
    r"(#?[A-Z]{0,4}-?\d[\dA-Z-]{3,19})\b", re.I)
_PHONE = re.compile(r"(?<![\w#+-])(\+?\(?\d[\d ()./-]{6,18}\d)(?![\w-])")
_BLOCKS = ["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
           "table", "ul", "ol"]


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


def clean_text(text: str) -> str:
    """One newline style, no NUL bytes, no runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\x00", "")
    return re.sub(r"\n{3,}", "\n\n", text).strip()
