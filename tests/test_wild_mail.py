"""Wild mail: what real mail programs send, read as the customer's own mail client shows it.

Each shape the parser once got wrong has a mail written here that goes through the whole
pipeline (SQLite, the shipped model): the customer must get a case under their address and
subject, not a quarantine entry or a silent drop. `tests/data/wild/` holds a larger set of
real-world-shaped mails (Outlook, Apple Mail, Thunderbird, Gmail, phones, legacy charsets,
broken encoded words, odd addresses, lines before the header), each with the sender and
subject a person sees in `index.json`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from ingestd.intake import store_and_process
from ingestd.worker import parse_raw
from storage import Case, CaseMessage, Quarantine, RawMessage
from tests.support import ConfigSpec, Ingestd, write_config

WILD = Path(__file__).parent / "data" / "wild"
CRLF = b"\r\n"
_BODY = b"My order has not arrived and nobody answers."


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Ingestd:
    directory = tmp_path_factory.mktemp("wild")
    return Ingestd(write_config(directory, ConfigSpec(f"sqlite:///{directory / 'db.sqlite3'}")))


def _mail(*fields: bytes, body: bytes = _BODY, before: bytes = b"") -> bytes:
    return before + CRLF.join((*fields, b"To: support@example.test",
                               b"Date: Mon, 23 Nov 2026 10:00:00 +0000")) + CRLF + CRLF + body


def _deliver(app: Ingestd, raw: bytes) -> tuple[str, Case | None, str | None]:
    """Deliver one mail; what came of it: the outcome, its case, its quarantine error."""
    outcome = store_and_process(app.services, "wild", raw)
    with app.services.factory() as session:
        row = session.scalars(select(RawMessage).where(RawMessage.raw == raw)).one()
        error = session.scalar(select(Quarantine.error)
                               .where(Quarantine.raw_message_id == row.id))
        case = session.scalar(select(Case).join(CaseMessage, CaseMessage.case_id == Case.id)
                              .where(CaseMessage.raw_message_id == row.id))
        if case is not None:
            session.expunge(case)
    return outcome, case, error


def _assert_case(app: Ingestd, raw: bytes, address: str, subject: str) -> None:
    outcome, case, error = _deliver(app, raw)
    assert error is None, f"quarantined: {error}"
    assert case is not None, f"no case: {outcome}"
    assert (case.customer_address, case.subject) == (address, subject)


def test_a_gb2312_encoded_word_is_read_as_gb18030(app):
    """Chinese senders label GBK text "GB2312"; 喆 and 镕 are GBK only."""
    subject = "退款申请：订单喆镕"  # noqa: RUF001  (Chinese is written with full-width colons)
    word = base64.b64encode(subject.encode("gb18030")).decode()
    raw = _mail(b"From: =?gb2312?B?zfXV3A==?= <wang.zhe@163.example>",
                f"Subject: =?gb2312?B?{word}?=".encode())
    _assert_case(app, raw, "wang.zhe@163.example", subject)


@pytest.mark.parametrize(("sender", "subject", "body", "codec"), [
    ("张伟 <zhang.wei@126.example>", "我的订单还没有到",
     "您好，我上周订购的商品到现在还没有收到，请尽快处理并给我退款。谢谢！", "gb2312"),  # noqa: RUF001  (as above)
    ("高橋誠 <makoto.takahashi@plala.example>", "注文した商品が届きません",
     "ご担当者様\n注文した商品がまだ届きません。\n確認をお願いします。", "shift_jis"),
], ids=["chinese", "japanese"])
def test_unlabelled_8bit_chinese_and_japanese_headers_are_read_right(
        app, sender, subject, body, codec):
    """Old mail programs write the header in the local charset and name it nowhere."""
    raw = _mail(b"From: " + sender.encode(codec), b"Subject: " + subject.encode(codec),
                body=body.encode(codec))
    _assert_case(app, raw, sender.split("<")[1].rstrip(">"), subject)


@pytest.mark.parametrize("field", ["Sender", "Reply-To", "Return-Path"])
def test_without_from_the_next_writer_field_names_the_customer(app, field):
    address = f"no-from-{field.lower()}@customer.example"
    raw = _mail(f"{field}: <{address}>".encode(), f"Subject: Broken kettle ({field})".encode())
    _assert_case(app, raw, address, f"Broken kettle ({field})")


def test_two_authors_in_from_the_first_is_the_customer(app):
    raw = _mail(b"From: Ann Lee <ann.lee@leefamily.example>, Tom Lee <tom.lee@leefamily.example>",
                b"Subject: Our sofa arrived torn")
    _assert_case(app, raw, "ann.lee@leefamily.example", "Our sofa arrived torn")


@pytest.mark.parametrize(("before", "name"), [
    (b"From kate@btopenworld.example\r\n", "mbox"),
    (b">From kate@btopenworld.example Mon Nov 23 10:00:00 2026\r\n", "mboxrd"),
    (b"Microsoft Mail Internet Headers Version 2.0\r\n", "outlook"),
    (b"forwarded by helpdesk-relay at 10:00:07\r\n", "stray"),
], ids=["mbox", "mboxrd", "outlook", "stray"])
def test_a_line_before_the_header_does_not_lose_the_header(app, before, name):
    address = f"kate.{name}@btopenworld.example"
    raw = _mail(f"From: Kate Wilson <{address}>".encode(), b"Subject: Faulty headphones",
                before=before)
    _assert_case(app, raw, address, "Faulty headphones")


def test_a_shop_writing_from_postmaster_is_a_customer_not_a_bounce(app):
    """Behind an mbox line, from the shop's postmaster@ with a normal return path."""
    raw = _mail(b"Return-Path: <postmaster@smallshop.example>",
                b"From: Owner <postmaster@smallshop.example>",
                b"Subject: Wholesale order arrived broken",
                before=b"From postmaster@smallshop.example Mon Nov 23 10:00:00 2026\r\n")
    _assert_case(app, raw, "postmaster@smallshop.example", "Wholesale order arrived broken")
    bounce = _mail(b"From: postmaster@mx.smallshop.example",
                   b"Subject: Undeliverable: Your case CMP-2026-000001", body=b"User unknown")
    outcome, case, _ = _deliver(app, bounce)
    assert case is None and outcome.startswith("bounce")


def _wild() -> list[dict[str, str]]:
    entries: list[dict[str, str]] = json.loads((WILD / "index.json").read_text("utf-8"))
    return entries


def test_the_wild_corpus_is_read_with_the_right_sender_and_subject():
    """Every mail of the set: the sender address and subject its writer's client shows."""
    entries = _wild()
    assert len(entries) >= 55
    wrong = []
    for entry in entries:
        parsed = parse_raw((WILD / entry["file"]).read_bytes())
        got = (parsed.sender_address, parsed.subject)
        if got != (entry["sender"], entry["subject"]):
            wrong.append(f"{entry['file']} ({entry['shape']}): {got!r}")
    assert not wrong, f"{len(entries) - len(wrong)} of {len(entries)} right:\n" + "\n".join(wrong)
