"""What the drain and memory benchmarks share: a varied mail corpus and a configured mailbox.

The corpus mixes the shapes a support mailbox really gets, so the parser, the reply stripper,
threading and triage all do their usual work: the test suite's short complaints, held-out
training texts as plain, multipart/alternative and HTML-only mail, long mails with quoted
history and signatures, mails with attachments, and replies that thread onto earlier cases.
"""

from __future__ import annotations

import base64
import json
import random
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import Account, DovecotServer  # noqa: E402  (after sys.path gains the repository root)
from tests.support import ConfigSpec, MailboxSpec, complaint, write_config  # noqa: E402  (after sys.path gains the repository root)

CORPUS = ROOT / "triage" / "data" / "corpus.jsonl"  # plain-text rows give the bodies
DEFAULT_MODEL = ROOT / "models" / "current.skops"
KINDS = ("short", "short", "heldout", "heldout", "alternative", "html", "reply", "long",
         "attachment", "short")
QUOTE = ("> Dear customer,\n> thank you for your message. We are looking into it and will "
         "come back to you\n> within two working days.\n> Kind regards, Customer Support\n")
SIGNATURE = "\n-- \n{name}\nSenior Buyer | Example Trading Ltd.\nPhone +44 20 7946 0{n:03d}\n"


def message_id(n: int) -> str:
    return f"<bench-{n}@customer.example>"


def sender(n: int) -> str:
    return f"Customer {n} <customer{n}@example.net>"


class Corpus:
    """Deterministic varied mails: mail n is always the same bytes for the same seed."""

    def __init__(self, seed: int = 8) -> None:
        with CORPUS.open(encoding="utf-8") as handle:
            self.texts = [(r["subject"], r["body"]) for r in map(json.loads, handle)
                          if "body" in r]
        self.seed = seed

    def mail(self, n: int) -> bytes:
        kind = KINDS[n % len(KINDS)]
        rng = random.Random(self.seed * 1_000_003 + n)
        subject, body = self.texts[rng.randrange(len(self.texts))]
        if kind == "short":
            return complaint(n, message_id=message_id(n))
        if kind == "reply":
            return self._reply(n, rng)
        msg = _envelope(n, subject)
        if kind == "heldout":
            msg.set_content(body)
        elif kind == "alternative":
            msg.set_content(body)
            msg.add_alternative(_html(body), subtype="html")
        elif kind == "html":
            msg.set_content(_html(body), subtype="html")
        elif kind == "long":
            history = "\n".join(QUOTE for _ in range(rng.randint(5, 30)))
            signature = SIGNATURE.format(name=f"Customer {n}", n=n % 1000)
            msg.set_content(f"{body}\n\n{body}\n{signature}\n"
                            f"On Mon, 3 Nov 2025 support@example.test wrote:\n{history}")
        else:
            msg.set_content(body)
            msg.add_attachment(_pdf(rng), maintype="application", subtype="pdf",
                               filename=f"receipt-{n}.pdf")
        return msg.as_bytes()

    def _reply(self, n: int, rng: random.Random) -> bytes:
        """A customer writing again on their earlier mail (which was a short complaint)."""
        earlier = n - 6
        msg = _envelope(earlier, "Re: my complaint", number=n)
        msg["In-Reply-To"] = message_id(earlier)
        msg["References"] = message_id(earlier)
        msg.set_content("Any news on this? It is still not sorted.\n\n" + QUOTE * rng.randint(1, 4))
        return msg.as_bytes()

    def mails(self, count: int, start: int = 0) -> Iterator[bytes]:
        return (self.mail(n) for n in range(start, start + count))


def _envelope(n: int, subject: str, number: int | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender(n), "support@example.test", subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(n if number is None else number)
    return msg


def _html(body: str) -> str:
    paragraphs = "".join(f"<p style=\"margin:0 0 8px\">{line}</p>" for line in body.split("\n"))
    return ("<html><head><style>p{font-family:Arial}</style><title>mail</title></head>"
            f"<body><div class=\"WordSection1\">{paragraphs}</div></body></html>")


def _pdf(rng: random.Random) -> bytes:
    return b"%PDF-1.4\n" + base64.b64encode(rng.randbytes(rng.randint(4_000, 40_000)))


def fill(server: DovecotServer, account: Account, corpus: Corpus, count: int) -> None:
    """APPEND `count` corpus mails to the account's INBOX, a few thousand at a time."""
    chunk = 2_000
    for start in range(0, count, chunk):
        server.append(account, list(corpus.mails(min(chunk, count - start), start)))


def bench_config(directory: Path, db_url: str, account: Account, model: Path,
                 batch_size: int = 500, *, workers: int | None = None) -> Path:
    """The test suite's config for one mailbox, with outgoing mail written to files.

    `workers`: `[daemon] workers` (parse-and-score processes); None keeps ingestd's default.
    """
    directory.mkdir(parents=True, exist_ok=True)
    extra = "" if workers is None else f"[daemon]\nworkers = {workers}\n"
    # A backlog of thousands of distinct customers, drained at once, would meet the hourly
    # flood caps: lifted, so every run does the same work (one acknowledgment and one team
    # notification a mail) and the figures compare with earlier runs.
    extra += "[floods]\nacknowledgments_per_hour = 1000000\nteam_mails_per_hour = 1000000\n"
    spec = ConfigSpec(db_url, [MailboxSpec(account, batch_size=batch_size)], extra=extra)
    path = write_config(directory, spec)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(str(DEFAULT_MODEL), str(model)), encoding="utf-8")
    return path
