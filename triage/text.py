"""The text triage reads: HTML made plain, quoted history and signature cut off.

The pipeline shows the model exactly this view of a mail, so the training corpus is read
through it too: a model trained on quoted threads it will never be shown learns the quotes.
mail-parser-reply strips history and signatures in English, German, French and Spanish;
BeautifulSoup turns HTML into text without running anything in it.
"""

import re

from bs4 import BeautifulSoup
from mailparser_reply import EmailReplyParser

_REPLY_PARSER = EmailReplyParser(languages=["en", "de", "fr", "es"])
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


def served_text(body: str = "", html: str = "") -> str:
    """What the pipeline hands the model for a mail with this plain or HTML body."""
    return strip_quoted(clean_text(body if body.strip() else html_to_text(html)))
