"""Parser throughput: the stdlib parser ingestd uses, against mail-parser (the baseline).

Same messages, same run: mail-parser's `parse_from_bytes`, the stdlib parser with the
compat32 and the default policies, and ingestd's whole `parse_bytes` (which also makes the
readable text, strips quoted replies and finds order numbers).

    .venv/bin/python bench/bench_parse.py [--mails 3000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from email import message_from_bytes  # noqa: E402  (after sys.path gains the repository root)
from email.policy import compat32, default  # noqa: E402  (after sys.path gains the repository root)

from ingestd.message import parse_bytes  # noqa: E402  (after sys.path gains the repository root)


def corpus(count: int) -> list[bytes]:
    """Varied mails from the triage corpus: plain, HTML alternative, with an attachment."""
    rows = [row for line in (ROOT / "triage/data/corpus.jsonl").open()
            if "body" in (row := json.loads(line))]
    mails = []
    for n in range(count):
        row = rows[n % len(rows)]
        msg = EmailMessage()
        msg["From"], msg["To"] = f"Customer {n} <c{n}@example.net>", "support@example.test"
        msg["Subject"], msg["Message-ID"] = row["subject"], f"<{n}@example.net>"
        msg.set_content(row["body"])
        if n % 3 == 1:
            msg.add_alternative(f"<p>{row['body']}</p>", subtype="html")
        if n % 5 == 2:
            msg.add_attachment(b"\x89PNG" + bytes(4000), maintype="image", subtype="png",
                               filename="photo.png")
        mails.append(msg.as_bytes())
    return mails


def rate(parse: Callable[[bytes], object], mails: list[bytes], rounds: int = 3) -> float:
    best = []
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in mails:
            parse(raw)
        best.append(len(mails) / (time.perf_counter() - started))
    return statistics.median(best)


def main() -> None:
    import mailparser  # noqa: PLC0415  (only this benchmark needs it)

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=3000)
    mails = corpus(parser.parse_args().mails)
    baseline = rate(mailparser.parse_from_bytes, mails)
    figures = {
        "stdlib email, compat32 policy": rate(
            lambda raw: message_from_bytes(raw, policy=compat32), mails),
        "stdlib email, default policy": rate(
            lambda raw: message_from_bytes(raw, policy=default), mails),
        "parse_bytes (+ text, replies, numbers)": rate(parse_bytes, mails),
    }
    print(f"mails: {len(mails)}")
    print(f"{'mail-parser (baseline)':40s} {baseline:8.0f} msg/s")
    for name, value in figures.items():
        print(f"{name:40s} {value:8.0f} msg/s  ({value / baseline:.2f}x baseline)")


if __name__ == "__main__":
    main()
