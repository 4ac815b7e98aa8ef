"""Parser throughput: ingestd's parser (stdlib email, compat32) against mail-parser.

The baseline is mail-parser's `parse_from_bytes` on the same messages in the same run; both
produce what triage needs (sender, subject, text). Prints messages per second and the ratio.

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

from ingestd.message import parse_bytes  # noqa: E402


def corpus(count: int) -> list[bytes]:
    """Varied mails from the held-out corpus: plain, HTML alternative, with an attachment."""
    rows = [json.loads(line) for line in (ROOT / "triage/data/heldout.jsonl").open()]
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
    ours = rate(parse_bytes, mails)
    print(f"mails: {len(mails)}")
    print(f"mail-parser (baseline):        {baseline:8.0f} msg/s")
    print(f"ingestd.message.parse_bytes:   {ours:8.0f} msg/s  ({ours / baseline:.2f}x baseline)")


if __name__ == "__main__":
    main()
