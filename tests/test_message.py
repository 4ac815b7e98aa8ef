"""Parsing: what ingestd reads out of a mail, however it is encoded."""

from __future__ import annotations

from ingestd.mailtext import strip_quoted
from ingestd.message import dedup_key, parse_bytes

HTML_ONLY = (b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.COM>\r\n"
             b"To: support@example.test\r\nSubject: =?utf-8?q?Besch=C3=A4digt?=\r\n"
             b"Message-ID: <abc@x>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
             b"Content-Type: text/html; charset=utf-8\r\n\r\n"
             b"<p>Order number: A-1234567 arrived <b>broken</b>. Call +44 20 7946 0958.</p>"
             b"<script>alert('x')</script>\r\n")


def test_encoded_words_html_body_order_and_phone_numbers():
    parsed = parse_bytes(HTML_ONLY)
    assert parsed.sender_name == "Jürgen Müller"
    assert parsed.sender_address == "juergen@example.com"
    assert parsed.subject == "Beschädigt"
    assert "arrived" in parsed.text and "broken" in parsed.text
    assert "alert" not in parsed.text  # scripts are dropped, never kept as text to show
    assert parsed.order_numbers == ("A-1234567",)
    assert parsed.phone_numbers == ("+44 20 7946 0958",)
    assert parsed.date is not None and parsed.date.utcoffset() is not None


def test_latin1_body_and_unknown_charset_are_decoded():
    latin = (b"From: a@example.net\r\nSubject: x\r\nContent-Type: text/plain; charset=iso-8859-1"
             b"\r\n\r\nGr\xfc\xdfe aus K\xf6ln\r\n")
    unknown = (b"From: a@example.net\r\nSubject: =?x-unknown?q?abc?=\r\n"
               b"Content-Type: text/plain; charset=x-unknown\r\n\r\ncaf\xc3\xa9\r\n")
    assert parse_bytes(latin).text == "Grüße aus Köln"
    parsed = parse_bytes(unknown)
    assert parsed.text == "café"
    assert "abc" in parsed.subject


def test_attachments_are_listed_with_name_type_and_size():
    raw = (b"From: a@example.net\r\nSubject: photo\r\nContent-Type: multipart/mixed; boundary=XX"
           b"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nSee the photo.\r\n--XX\r\n"
           b"Content-Type: image/jpeg; name=\"box.jpg\"\r\nContent-Disposition: attachment; "
           b"filename=\"box.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"AAECAwQFBgcICQ==\r\n--XX--\r\n")
    parsed = parse_bytes(raw)
    assert parsed.text == "See the photo."
    assert [(a.name, a.content_type, a.size) for a in parsed.attachments] == [
        ("box.jpg", "image/jpeg", 10)]


def test_quoted_history_and_signature_are_stripped_for_triage():
    text = ("The replacement is broken too.\n\nThanks,\nBob\n-- \nBob Smith\nACME Ltd\n\n"
            "On Mon, 2 Nov 2026 at 10:00, Support <s@example.test> wrote:\n> We are sorry\n")
    assert strip_quoted(text) == "The replacement is broken too."


def test_dedup_key_ignores_line_endings_but_not_the_body():
    raw = b"From: a@example.net\nMessage-ID: <m@x>\nSubject: s\n\nbody\n"
    assert dedup_key(raw) == dedup_key(raw.replace(b"\n", b"\r\n"))
    assert dedup_key(raw) != dedup_key(raw.replace(b"body", b"other"))
    assert dedup_key(raw) == dedup_key(raw.replace(b"Subject: s", b"Subject: s\nX-Extra: 1"))


def test_references_are_read_nearest_first():
    raw = (b"From: a@example.net\r\nIn-Reply-To: <c@x>\r\nReferences: <a@x> <b@x> <c@x>\r\n"
           b"Subject: re\r\n\r\nok\r\n")
    assert parse_bytes(raw).referenced_ids() == ("c@x", "b@x", "a@x")
