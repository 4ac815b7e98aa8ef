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
