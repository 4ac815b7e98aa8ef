"""Hostile and malformed mail, built in memory at test time (no binary files in the repo).

Each entry is (name, raw bytes). Every one names a distinct sender where it has one, so a
test can tell which mails became cases. Sizes are parameters: the 25 MB attachment and the
10,000-part mail are made only when asked for.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Callable

CRLF = b"\r\n"


def _head(sender: str | None, subject: str | bytes = "Hostile", *, mid: str | None = "auto",
          date: bool = True, extra: bytes = b"") -> bytes:
    lines = []
    if sender is not None:
        lines.append(f"From: {sender}".encode())
    lines.append(b"To: support@example.test")
    lines.append(b"Subject: " + (subject if isinstance(subject, bytes) else subject.encode()))
    if date:
        lines.append(b"Date: Mon, 23 Nov 2026 10:00:00 +0000")
    if mid == "auto":
        mid = f"<{os.urandom(8).hex()}@hostile.example>"
    if mid is not None:
        lines.append(f"Message-ID: {mid}".encode())
    return CRLF.join(lines) + CRLF + extra


def broken_boundary() -> bytes:
    return (_head("Bob <broken@hostile.example>", "broken boundary",
                  extra=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XYZ"\r\n')
            + b"\r\n--ABC\r\nContent-Type: text/plain\r\n\r\nMy order 123456 is late\r\n"
            b"--XYZ\r\nContent-Type: text/plain\r\n\r\nunterminated part without end")


def no_boundary_parameter() -> bytes:
    return (_head("nob@hostile.example", "no boundary",
                  extra=b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative\r\n")
            + b"\r\nthere is no boundary at all\r\n")


def wrong_charset() -> bytes:
    body = "Ich möchte mein Geld zurück, Bestellung 55512".encode("latin-1")
    return (_head("wrong@hostile.example", "falscher Zeichensatz",
                  extra=b"Content-Type: text/plain; charset=utf-8\r\n"
                        b"Content-Transfer-Encoding: 8bit\r\n") + CRLF + body)


def unknown_charset() -> bytes:
    return (_head("unknown@hostile.example", "=?x-klingon?Q?qapla=27?= unknown charset",
                  extra=b"Content-Type: text/plain; charset=x-klingon-99\r\n")
            + b"\r\nThe parcel was \xe9\xe8 damaged\r\n")


def eight_bit_headers() -> bytes:
    head = "From: Jürgen Müller <juergen@hostile.example>\r\nTo: support@example.test\r\n" \
           "Subject: Rückerstattung für Bestellung 😡\r\nMessage-ID: <8bit@hostile.example>\r\n"
    return head.encode() + b"\r\nRaw UTF-8 in the headers, no RFC 2047.\r\n"


def rfc2047_edge_cases() -> bytes:
    subject = (b"=?utf-8?B?UmVmdW5k?= =?utf-8?Q?_please=3F?= =?utf-8?B?broken base64?= "
               b"=?iso-8859-1?q?caf=E9?==?utf-8?B?8J+YoQ==?= =?utf-8??= =?unknown?Q?x?=")
    name = base64.b64encode('Zoë "Q" <z'.encode()).decode()
    sender = f"=?utf-8?B?{name}?= <rfc2047@hostile.example>"
    return _head(sender, subject) + b"\r\nRFC 2047 in every shape.\r\n"


def big_attachment(megabytes: int = 25) -> bytes:
    payload = base64.encodebytes(os.urandom(megabytes * 1024 * 1024))
    return (_head("big@hostile.example", "photos of the damage",
                  extra=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n')
            + b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
            b"The sofa arrived torn, photos attached.\r\n"
            b"--b1\r\nContent-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="damage.bin"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + payload.replace(b"\n", CRLF)
            + b"--b1--\r\n")


def many_parts(parts: int = 10_000) -> bytes:
    body = [b"\r\n--p\r\nContent-Type: text/plain\r\n\r\nI was overcharged.\r\n"]
    body += [b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(parts - 1)]
    return (_head("parts@hostile.example", "ten thousand parts",
                  extra=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="p"\r\n')
            + b"".join(body) + b"--p--\r\n")


def deep_nesting(levels: int = 200) -> bytes:
    head = b"".join(b'--n%d\r\nContent-Type: multipart/mixed; boundary="n%d"\r\n\r\n' % (i, i + 1)
                    for i in range(levels))
    tail = b"".join(b"\r\n--n%d--\r\n" % i for i in reversed(range(levels + 1)))
    return (_head("deep@hostile.example", "deeply nested",
                  extra=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="n0"\r\n')
            + CRLF + head + b"--n%d\r\nContent-Type: text/plain\r\n\r\nThe bottom.\r\n" % levels
            + tail)


def tnef() -> bytes:
    blob = struct.pack("<IH", 0x223E9F78, 1) + os.urandom(512)  # TNEF signature + junk
    return (_head("outlook@hostile.example", "winmail",
                  extra=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="t"\r\n')
            + b"\r\n--t\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            b"--t\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
            b'Content-Disposition: attachment; filename="winmail.dat"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(blob) + b"--t--\r\n")


def calendar_invite() -> bytes:
    ics = (b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Complaint call\r\n"
           b"DTSTART:20261124T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    return (_head("calendar@hostile.example", "Invitation: complaint call",
                  extra=b"MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REQUEST\r\n")
            + CRLF + ics)


def missing_from() -> bytes:
    return _head(None, "no from at all") + b"\r\nWho sent this?\r\n"


def missing_date_and_id() -> bytes:
    return _head("nodate@hostile.example", "no date, no id", mid=None, date=False) + \
        b"\r\nMy refund never came.\r\n"


def duplicate_message_ids() -> list[bytes]:
    mid = "<same-id@hostile.example>"
    return [_head("dup1@hostile.example", "first", mid=mid) + b"\r\nFirst body.\r\n",
            _head("dup2@hostile.example", "second", mid=mid) + b"\r\nA different body.\r\n"]


def nul_bytes() -> bytes:
    return (_head("nul@hostile.example", "nul\x00bytes")
            + b"\r\nThe\x00 parcel\x00 was\x00 late.\x00\r\n")


def html_with_script() -> bytes:
    html = (b"<html><head><script>alert('head')</script></head><body>"
            b"<p>My account was hacked</p><script>document.location='http://evil'</script>"
            b"<img src=x onerror=alert(1)><style>p{}</style></body></html>")
    return (_head("html@hostile.example", "My account was hacked",
                  extra=b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n")
            + CRLF + html)


def mail_bomb(recipients: int = 5000) -> bytes:
    cc = ", ".join(f"victim{i}@bomb.example" for i in range(recipients))
    return (_head("bomber@hostile.example", "cc bomb", extra=f"Cc: {cc}\r\n".encode())
            + b"\r\nEveryone should see my complaint.\r\n")


def garbage() -> bytes:
    return b"\xff\xfe\x00\x00 not a mail \x01\x02" * 10


def header_only() -> bytes:
    return b"From: headonly@hostile.example\r\nSubject: nothing else"


def long_header_line() -> bytes:
    return _head("long@hostile.example", "x" * 200_000) + b"\r\nLong subject.\r\n"


def _mail(sender: str, subject: str, content_type: bytes, body: bytes,
          cte: bytes | None = None) -> bytes:
    extra = b"MIME-Version: 1.0\r\nContent-Type: " + content_type + b"\r\n"
    if cte:
        extra += b"Content-Transfer-Encoding: " + cte + b"\r\n"
    return _head(sender, subject, extra=extra) + CRLF + body


def _lines(text: bytes, megabytes: float) -> bytes:
    return text * max(int(megabytes * (1 << 20)) // len(text), 1)


def base64_text(megabytes: float = 28) -> bytes:
    """The issue's 28 MB base64 text part (4.98 GB and 67 s before [limits])."""
    text = _lines(b"My order 4471-B never came and nobody answers the phone.\n", megabytes * 0.74)
    return _mail("b64text@hostile.example", "base64 text", b"text/plain; charset=utf-8",
                 base64.encodebytes(text).replace(b"\n", CRLF), b"base64")


def quoted_lines(megabytes: float = 8) -> bytes:
    return _mail("quoted@hostile.example", "quoted history", b"text/plain",
                 b"My new complaint is on top.\r\n\r\n"
                 + _lines(b"> an old line of the history, quoted again\r\n", megabytes))


def nested_divs(levels: int = 100_000) -> bytes:
    """The issue's 1.1 MB of nested <div> (14 min before the linear HTML-to-text)."""
    return _mail("divs@hostile.example", "nested html", b"text/html; charset=utf-8",
                 b"<div>" * levels + b"The sofa is torn." + b"</div>" * levels)


def big_subject(size: int = 1 << 20) -> bytes:
    return _head("subject@hostile.example", "refund " * (size // 7)) + b"\r\nSee the subject.\r\n"


def long_word_subject(size: int = 1 << 20) -> bytes:
    return _head("word@hostile.example", "x" * size) + b"\r\nOne long word.\r\n"


def over_size(megabytes: int = 30) -> bytes:
    """A mail over [limits] message_mb: read as far as the limit, kept whole."""
    return (_head("oversize@hostile.example", "too big",
                  extra=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="o"\r\n')
            + b"\r\n--o\r\nContent-Type: text/plain\r\n\r\nMy refund is late.\r\n"
            b"--o\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            + _lines(b"QUFB" * 18 + b"\r\n", megabytes) + b"--o--\r\n")


def qp_text(megabytes: float = 12) -> bytes:
    return _mail("qp@hostile.example", "quoted-printable", b"text/plain; charset=utf-8",
                 _lines(b"Die Lieferung ist besch=C3=A4digt, bitte erstatten Sie den "
                        b"Betr=\r\nag.\r\n", megabytes), b"quoted-printable")


def one_long_line(megabytes: float = 6) -> bytes:
    return _mail("oneline@hostile.example", "no line breaks", b"text/plain",
                 _lines(b"complaint ", megabytes))


def digits(megabytes: float = 4) -> bytes:
    """Digits everywhere: the phone and order number patterns read all of them."""
    return _mail("digits@hostile.example", "numbers", b"text/plain",
                 _lines(b"order 12345678 call +44 20 7946 0958 1.2.3.4 ", megabytes))


def chinese_text(megabytes: float = 6) -> bytes:
    return _mail("zh@hostile.example", "中文", b"text/plain; charset=utf-8",
                 _lines("我的订单还没有到, 请尽快退款。".encode(), megabytes), b"8bit")


def html_tags_only(megabytes: float = 3) -> bytes:
    return _mail("tags@hostile.example", "tags", b"text/html", _lines(b"<b><i></i></b>", megabytes))


def html_open_brackets(megabytes: float = 2) -> bytes:
    return _mail("brackets@hostile.example", "brackets", b"text/html",
                 _lines(b"< <a <!x ", megabytes))


def html_unclosed_comment(megabytes: float = 2) -> bytes:
    return _mail("comment@hostile.example", "comment", b"text/html",
                 b"<p>Visible</p><!-- " + _lines(b"hidden -- > ", megabytes))


def html_entities(megabytes: float = 3) -> bytes:
    return _mail("entities@hostile.example", "entities", b"text/html",
                 _lines(b"&amp;&#233;&eacute;&#x1F600;&nosuch;", megabytes))


def html_unclosed_blocks(count: int = 200_000) -> bytes:
    return _mail("blocks@hostile.example", "unclosed", b"text/html", b"<p>x<li>" * count)


def deep_rfc822(levels: int = 2000) -> bytes:
    """Forwarded inside forwarded, 2,000 times (message/rfc822 nests as multipart does)."""
    inner = b"From: inner@hostile.example\r\nSubject: inner\r\n\r\nThe bottom.\r\n"
    for _ in range(levels):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return _head("rfc822@hostile.example", "forwarded", extra=b"MIME-Version: 1.0\r\n") \
        .rstrip(CRLF) + CRLF + inner


def thousands_of_headers(count: int = 100_000) -> bytes:
    extra = b"".join(b"X-Junk-%d: value\r\n" % i for i in range(count))
    return _head("headers@hostile.example", "many headers", extra=extra) + b"\r\nHello.\r\n"


def huge_references(count: int = 50_000) -> bytes:
    refs = b" ".join(b"<ref%d@hostile.example>" % i for i in range(count))
    return (_head("refs@hostile.example", "references", extra=b"References: " + refs + CRLF
                  + b"In-Reply-To: <" + b"r" * 100_000 + b"@hostile.example>\r\n")
            + b"\r\nA reply to everything.\r\n")


def many_tags(count: int = 50_000) -> bytes:
    subject = " ".join(f"[CMP-2026-{i:06d}]" for i in range(count))
    return _head("casetags@hostile.example", subject) + b"\r\nEvery case at once.\r\n"


def huge_display_name(size: int = 1 << 20) -> bytes:
    return _head(f"{'N' * size} <name@hostile.example>", "long name") + b"\r\nHello.\r\n"


def many_attachments(count: int = 5000) -> bytes:
    parts = b"".join(b'--a\r\nContent-Type: application/pdf\r\n'
                     b'Content-Disposition: attachment; filename="f%d.pdf"\r\n\r\nx\r\n' % i
                     for i in range(count))
    return (_head("attach@hostile.example", "attachments",
                  extra=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="a"\r\n')
            + b"\r\n--a\r\nContent-Type: text/plain\r\n\r\nSee the files.\r\n" + parts
            + b"--a--\r\n")


def wide_and_deep(levels: int = 40, width: int = 10) -> bytes:
    """Each level holds `width` parts and the next level: 400 parts, depth 40."""
    body = b"--w%d\r\nContent-Type: text/plain\r\n\r\nBottom.\r\n--w%d--\r\n" % (levels, levels)
    for level in reversed(range(levels)):
        leaves = b"".join(b"--w%d\r\nContent-Type: text/plain\r\n\r\nleaf %d\r\n" % (level, i)
                          for i in range(width))
        body = (leaves + b'--w%d\r\nContent-Type: multipart/mixed; boundary="w%d"\r\n\r\n'
                % (level, level + 1) + body + b"--w%d--\r\n" % level)
    return (_head("wide@hostile.example", "wide and deep",
                  extra=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="w0"\r\n')
            + CRLF + body)


def bare_cr_lines(megabytes: float = 3) -> bytes:
    return _mail("cr@hostile.example", "bare CR", b"text/plain", _lines(b"line\r", megabytes))


LARGE: dict[str, Callable[[], bytes]] = {
    "base64_text": base64_text, "quoted_lines": quoted_lines, "nested_divs": nested_divs,
    "big_subject": big_subject, "long_word_subject": long_word_subject, "over_size": over_size,
    "qp_text": qp_text, "one_long_line": one_long_line, "digits": digits,
    "chinese_text": chinese_text, "html_tags_only": html_tags_only,
    "html_open_brackets": html_open_brackets, "html_unclosed_comment": html_unclosed_comment,
    "html_entities": html_entities, "html_unclosed_blocks": html_unclosed_blocks,
    "deep_rfc822": deep_rfc822, "thousands_of_headers": thousands_of_headers,
    "huge_references": huge_references, "huge_display_name": huge_display_name,
    "many_tags": many_tags,
    "many_attachments": many_attachments, "wide_and_deep": wide_and_deep,
    "bare_cr_lines": bare_cr_lines, "deep_nesting_2000": lambda: deep_nesting(2000),
    "many_parts_50000": lambda: many_parts(50_000),
}


BUILDERS: dict[str, Callable[[], bytes]] = {
    "broken_boundary": broken_boundary, "no_boundary_parameter": no_boundary_parameter,
    "wrong_charset": wrong_charset, "unknown_charset": unknown_charset,
    "eight_bit_headers": eight_bit_headers, "rfc2047_edge_cases": rfc2047_edge_cases,
    "many_parts": many_parts, "deep_nesting": deep_nesting, "tnef": tnef,
    "calendar_invite": calendar_invite, "missing_from": missing_from,
    "missing_date_and_id": missing_date_and_id, "nul_bytes": nul_bytes,
    "html_with_script": html_with_script, "mail_bomb": mail_bomb, "garbage": garbage,
    "header_only": header_only, "long_header_line": long_header_line,
}


def corpus(*, big: bool = False) -> list[tuple[str, bytes]]:
    """Every hostile mail (the 25 MB one only with big=True)."""
    mails = [(name, build()) for name, build in BUILDERS.items()]
    mails += [(f"duplicate_message_id_{i}", raw) for i, raw in enumerate(duplicate_message_ids())]
    if big:
        mails.append(("big_attachment", big_attachment()))
    return mails


def large() -> list[tuple[str, bytes]]:
    """The mails over the `[limits]`, and the shapes that were slow or deep (about 130 MB)."""
    return [(name, build()) for name, build in LARGE.items()]
