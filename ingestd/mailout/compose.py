"""Compose outgoing mail from the Jinja2 templates in `templates/`.

A template renders plain text whose first line is `Subject: ...`; an optional `.html`
twin becomes the HTML alternative (autoescaped). Customer text only ever enters as
variables, so a subject like `{{ 7*7 }}` is printed, never evaluated.

Composing is on the path of every new case (twice: the acknowledgment and the team's
notification), so the bytes are put together here rather than through the email package's
message objects and generator, in the very form those would give with the compat32 policy
(`tests/test_outgoing.py` checks it against them): each header folded by the policy (a short
plain-ASCII one written as it is, `_Policy`), the text quoted-printable UTF-8 as
`email.charset` encodes it, and a multipart boundary that starts with "=_", which
quoted-printable text can never contain. Each kind's templates are looked up once.

Our Message-IDs carry the case reference and an HMAC over it, so a reply naming one of
them can be trusted to come from someone who received our mail, and a forged one is known.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from email import quoprimime
from email.header import Header
from email.policy import Compat32
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any

import jinja2

from ingestd.config import SHIPPED_TEMPLATES, shipped

_MAC_LENGTH = 16
# The kinds of mail ingestd composes; `ingestd doctor` checks that each one renders.
KINDS = ("acknowledgment", "acknowledgment_urgent", "team_notification", "escalation",
         "followup", "agent_reply", "update_investigating", "update_resolved",
         "update_new_date", "digest", "assigned", "customer_replied")
_REFERENCES = 20  # of a thread's Message-IDs: the newest (a mail can name 50,000)
# A text part's own header lines, as the email package writes them for quoted-printable
# UTF-8 (readable in any mail client's source view, unlike base64).
_TEXT_PART = ('MIME-Version: 1.0\nContent-Type: text/{}; charset="utf-8"\n'
              "Content-Transfer-Encoding: quoted-printable\n")
_LINE_END = re.compile(r"\r\n|\r|\n")


# Words of printable ASCII without "," or ";" (where compat32 may also fold), one space apart.
_WORDS = re.compile(r"[!-+\--:<-~]+(?: [!-+\--:<-~]+)*")


class _Policy(Compat32):
    """compat32, with the common cases made cheap: a header that needs no folding or
    encoding is written as it is, and plain words too long for one line are folded before
    the word that would overflow it, as `email.header.Header` folds them."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        width = self.max_line_length or 78
        if isinstance(value, str) and value.isascii() and "\n" not in value and \
                "\r" not in value and len(name) + len(value) + 2 <= width:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        if isinstance(value, str) and _WORDS.fullmatch(value):
            first, *words = value.split(" ")
            lines = [f"{name}: {first}"]
            if len(lines[0]) <= width:  # (a first word too long goes another way)
                for word in words:
                    if len(lines[-1]) + 1 + len(word) > width:
                        lines.append(" " + word)
                    else:
                        lines[-1] += " " + word
                return (self.linesep.join(lines) + self.linesep).encode("ascii")
        return super().fold_binary(name, value)


_POLICY = _Policy()


@dataclass(frozen=True)
class Draft:
    """A composed mail, ready to become an outbox row."""

    kind: str
    recipient: str
    message_id: str
    raw: bytes
    sender: str = ""
    subject: str = ""
    text: str = ""


class Composer:
    """Renders each kind of mail (acknowledgment, notification, escalation, follow-up...)."""

    def __init__(self, templates: Path, sender: str, key: str, header_line: int = 998) -> None:
        self.sender = sender
        self.header_line = header_line  # longest header line we send ([limits])
        self.team_name = parseaddr(sender)[0] or "Customer Support"  # signs every mail
        self.sender_address = parseaddr(sender)[1]
        self.domain = self.sender_address.rpartition("@")[2] or "ingestd.invalid"
        self._from = _address(sender)
        self._key = key.encode()
        self._mac = hmac.new(self._key, digestmod=hashlib.sha256)  # keyed once, copied per id
        loader = jinja2.FileSystemLoader(templates)
        # A kind the admin's own folder lacks (one added since they copied it: the flood
        # digest) comes from the shipped text templates rather than failing the sender.
        fallback = jinja2.FileSystemLoader(shipped(SHIPPED_TEMPLATES))
        self._text = jinja2.Environment(
            loader=jinja2.ChoiceLoader([loader, fallback]),
            autoescape=False,  # noqa: S701  (plain-text mail: nothing to escape)
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True)
        self._html = jinja2.Environment(loader=loader, autoescape=True,
                                        undefined=jinja2.StrictUndefined)
        # Each kind's templates, found and compiled once (a kind without HTML: None).
        self._templates: dict[str, tuple[jinja2.Template, jinja2.Template | None]] = {}

    def new_message_id(self, reference: str) -> str:
        token = secrets.token_hex(6)
        mac = self._mac.copy()
        mac.update(f"{reference}.{token}".encode())
        return f"{reference}.{token}.{mac.hexdigest()[:_MAC_LENGTH]}@{self.domain}"

    def is_ours(self, message_id: str) -> str | None:
        """The case reference when `message_id` is one we made; None for others and forgeries."""
        return verify_message_id(self._key, message_id)

    def compose(self, kind: str, recipient: str, reference: str, context: dict[str, Any], *,
                in_reply_to: str | None = None, references: tuple[str, ...] = (),
                headers: dict[str, str] | None = None, automatic: bool = True) -> Draft:
        """Render template `kind` for `recipient` on the case `reference`.

        Automatic mail carries Auto-Submitted (RFC 3834) so robots do not answer it; a reply
        written by an agent (`automatic=False`) is ordinary mail.
        """
        context = {"team_name": self.team_name, **context, "reference": reference}
        text, html = self._kind(kind)
        subject, body = _split_subject(kind, text.render(context))
        message_id = self.new_message_id(reference)
        subject = _shortened(subject, self.header_line - len(f"Subject: [{reference}] "))
        fields = [("From", self._from), ("To", _address(recipient)),
                  ("Subject", _encoded(_tagged(subject, reference))),
                  ("Date", formatdate(localtime=False, usegmt=True)),
                  ("Message-ID", f"<{message_id}>"),
                  ("X-Loop", self.sender_address)]  # a system that sends it back says so
        if automatic:
            fields += [("Auto-Submitted", "auto-replied" if in_reply_to else "auto-generated"),
                       ("X-Auto-Response-Suppress", "All")]  # asks Exchange not to answer
        if in_reply_to and len(in_reply_to) < self.header_line - len("In-Reply-To: <>"):
            fields += [("In-Reply-To", f"<{in_reply_to}>"), ("References", " ".join(
                f"<{i}>" for i in (*references[-_REFERENCES:], in_reply_to)
                if len(i) < self.header_line - len("References: <>")))]
        fields += [(name, _encoded(_shortened(_one_line(value), self.header_line - len(name) - 2)))
                   for name, value in (headers or {}).items()]
        raw = _mime(fields, body, html.render(context) if html is not None else None,
                    f"=_{secrets.token_hex(12)}")
        return Draft(kind, recipient, message_id, raw, self.sender_address,
                     _tagged(subject, reference), body)

    def _kind(self, kind: str) -> tuple[jinja2.Template, jinja2.Template | None]:
        """The kind's text template and its HTML twin, if it has one."""
        if kind not in self._templates:
            text = self._text.get_template(f"{kind}.txt")
            try:
                html = self._html.get_template(f"{kind}.html")
            except jinja2.TemplateNotFound:
                html = None
            self._templates[kind] = text, html
        return self._templates[kind]

    def preview(self, kind: str) -> str:
        """The subject of `kind` with every variable a placeholder (for `ingestd doctor`).

        A missing file, bad syntax or a first line that is not `Subject:` raises
        jinja2.TemplateError before a customer's mail needs the template.
        """
        context = {"team_name": self.team_name, "reference": "CMP-0000-000000"}
        text = self._text.overlay(undefined=_Placeholder)
        subject, _ = _split_subject(kind, text.get_template(f"{kind}.txt").render(context))
        with contextlib.suppress(jinja2.TemplateNotFound):  # the HTML twin is optional
            self._html.overlay(undefined=_Placeholder).get_template(f"{kind}.html").render(context)
        return subject


class _Placeholder(jinja2.ChainableUndefined):
    """A variable the preview does not know: renders as `<name>`, is false in an `if`."""

    def __str__(self) -> str:
        return f"<{self._undefined_name}>"


def _split_subject(kind: str, rendered: str) -> tuple[str, str]:
    first, _, body = rendered.partition("\n")
    if not first.startswith("Subject:"):
        raise jinja2.TemplateError(f"{kind}.txt must start with a 'Subject:' line")
    return _one_line(first.removeprefix("Subject:")), body.lstrip("\n")


def _mime(headers: list[tuple[str, str]], text: str, html: str | None, boundary: str) -> bytes:
    """The mail's bytes: plain text, with an HTML alternative (parts parted by `boundary`)
    when the kind has one."""
    fold = _POLICY.fold_binary
    if html is None:
        head = _TEXT_PART.format("plain").encode() + b"".join(fold(n, v) for n, v in headers)
        return head + b"\n" + _quoted_printable(text)
    head = fold("Content-Type", f'multipart/alternative; boundary="{boundary}"')
    head += b"MIME-Version: 1.0\n" + b"".join(fold(n, v) for n, v in headers)
    parts = [_TEXT_PART.format(subtype).encode() + b"\n" + _quoted_printable(body)
             for subtype, body in (("plain", text), ("html", html))]
    delimiter = f"--{boundary}\n".encode()
    return (head + b"\n" + delimiter + (b"\n" + delimiter).join(parts)
            + f"\n--{boundary}--\n".encode())


def _quoted_printable(text: str) -> bytes:
    """`text` as UTF-8 quoted-printable, lines ending in LF (as compat32 writes them)."""
    encoded = quoprimime.body_encode(text.encode("utf-8").decode("latin-1")) if text else ""
    return _LINE_END.sub("\n", encoded).encode("ascii")


def _encoded(value: str) -> str:
    """RFC 2047-encode a header value only when it is not plain ASCII."""
    return value if value.isascii() else Header(value, "utf-8").encode()


@functools.lru_cache(maxsize=1024)  # the team's addresses come again and again
def _address(value: str) -> str:
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


def verify_message_id(key: bytes, message_id: str) -> str | None:
    local = message_id.strip("<>").partition("@")[0]
    reference, _, rest = local.partition(".")
    token, _, mac = rest.partition(".")
    if not (reference and token and mac):
        return None
    expected = _mac(key, f"{reference}.{token}")
    return reference if hmac.compare_digest(mac, expected) else None


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:_MAC_LENGTH]


def _one_line(value: str) -> str:
    """Header-safe: no CR/LF from customer text can add a header."""
    return " ".join(str(value).split())


def _shortened(value: str, room: int) -> str:
    """At most `room` characters, cut with an ellipsis: a customer's 1 MB subject must not
    become a header line longer than mail allows (RFC 5322: 998 characters)."""
    return value if len(value) <= room else value[:max(room - 3, 0)].rstrip() + "..."


def _tagged(subject: str, reference: str) -> str:
    tag = f"[{reference}]"
    return subject if tag in subject else f"{subject} {tag}".strip()
