"""The text triage reads: HTML made plain, quoted history and signature cut off.

The pipeline shows the model exactly this view of a mail, so the training corpus is read
through it too: a model trained on quoted threads it will never be shown learns the quotes.
mail-parser-reply strips history and signatures in English, German, French and Spanish;
HTML becomes text in one pass of the standard library's tokenizer, nothing in it run.
"""

import re
from collections import Counter
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser

_REPLY_PARSER = EmailReplyParser(languages=["en", "de", "fr", "es"])
_BLOCKS = frozenset({"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
                     "pre", "table", "ul", "ol"})
_STRAY_BRACKET = re.compile(r"<(?![^<>]{0,4096}>)")
_HIDDEN = frozenset({"script", "style", "head", "title"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link",
                   "menuitem", "meta", "param", "source", "track", "wbr", "basefont", "bgsound",
                   "command", "frame", "image", "isindex", "nextid", "spacer"})


def strip_quoted(text: str) -> str:
    """The new part of a reply: quoted history and signature removed."""
    try:
        replies = _REPLY_PARSER.read(text=text).replies
    except Exception:  # noqa: BLE001  (a third-party heuristic must never lose a message)
        return text.strip()
    body = replies[0].body.strip() if replies else ""
    return body or text.strip()


def html_to_text(html: str) -> str:
    """Visible text of an HTML body; scripts and styles are dropped, nothing is executed.

    One pass over the markup, no tree: a block element's end adds a line break, `<br>`
    one where it stands. Building a tree and appending to it cost time quadratic in the
    nesting (100,000 nested `<div>` took 14 minutes); this is linear in the input. A `<`
    that no `>` closes before the next `<` (within 4 K) is text: the tokenizer would look
    for its end through the rest of the input, again for each one.
    """
    reader = _TextReader()
    reader.feed(_STRAY_BRACKET.sub("&lt;", html))
    reader.close()
    lines = (" ".join(line.split()) for line in "".join(reader.out).splitlines())
    return "\n".join(lines)


class _TextReader(HTMLParser):
    """Collects the text a reader sees, as the tree-based view did (`html_to_text`).

    An end tag closes every element opened inside its element, as an HTML tree builder
    does; an end tag with no open element of its name is ignored.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._open: list[str] = []
        self._counts: Counter[str] = Counter()
        self._hidden = 0  # open elements whose content nobody sees (script, style, head)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br" and not self._hidden:
                self.out.append("\n")
            return
        self._open.append(tag)
        self._counts[tag] += 1
        self._hidden += tag in _HIDDEN

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self._counts[tag]:
            return
        while self._open:
            if self._close() == tag:
                return

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.out.append(data)

    def unknown_decl(self, data: str) -> None:
        if data.upper().startswith("CDATA["):
            self.handle_data(data[len("CDATA["):])

    def close(self) -> None:
        super().close()
        while self._open:
            self._close()

    def _close(self) -> str:
        tag = self._open.pop()
        self._counts[tag] -= 1
        if tag in _BLOCKS and not self._hidden:
            self.out.append("\n")
        self._hidden -= tag in _HIDDEN
        return tag


def clean_text(text: str) -> str:
    """One newline style, no NUL bytes, no runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\x00", "")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def served_text(body: str = "", html: str = "") -> str:
    """What the pipeline hands the model for a mail with this plain or HTML body."""
    return strip_quoted(clean_text(body if body.strip() else html_to_text(html)))
