"""Mail we must never answer: robots, lists, bounces and ourselves (SPEC: no mail loops)."""

from __future__ import annotations

import re
from collections.abc import Collection

from ingestd.message import ParsedMessage


def suppression_reason(parsed: ParsedMessage, our_addresses: Collection[str],
                       raw: bytes | None = None) -> str | None:
    """Why this mail must get no automatic answer, or None when it may get one.

    Bounces never get here: the filter step records them against our outbox and stops.
    """
    headers = parsed.headers
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    precedence = headers.get("precedence", "").strip().lower()
    checks = (
        (parsed.sender_address is None, "no sender address"),
        (bool(auto) and auto != "no", f"Auto-Submitted: {auto}"),
        (precedence in {"bulk", "junk", "list"}, f"Precedence: {precedence}"),
        ("x-auto-response-suppress" in headers, "X-Auto-Response-Suppress"),
        ("list-id" in headers or "list-unsubscribe" in headers, "mailing list"),
        ("x-autoreply" in headers or "x-autorespond" in headers, "auto-reply header"),
        (parsed.return_path == "", "empty return path"),
        ((parsed.sender_address or "") in our_addresses, "our own address"),
        (loops_through_us(parsed, raw, our_addresses), "X-Loop names our address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def is_auto_reply(parsed: ParsedMessage) -> bool:
    """An out-of-office or vacation answer (RFC 3834 and the common vendor headers)."""
    headers = parsed.headers
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    return auto == "auto-replied" or "x-autoreply" in headers or "x-autorespond" in headers


def is_bounce(parsed: ParsedMessage) -> bool:
    """A delivery report. Mail from a postmaster@ is one only with a robot's mark besides:
    small shops write to us from that address too, and their complaints are real."""
    if parsed.content_type == "multipart/report":
        return True
    if not re.match(r"^(mailer-daemon|postmaster)@", parsed.sender_address or ""):
        return False
    auto = parsed.headers.get("auto-submitted", "no").split(";")[0].strip().lower()
    return parsed.return_path == "" or auto != "no" or bool(_REPORT_SUBJECT.search(parsed.subject))


_REPORT_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status|failure|notification|report|has failed)|"
    r"returned mail|failure notice|mail delivery|could not be delivered|non-?delivery|"
    r"delivery failed|mail system error|warning: could not send", re.I)


def loops_through_us(parsed: ParsedMessage, raw: bytes | None,
                     our_addresses: Collection[str]) -> bool:
    """True when an X-Loop header names one of our addresses: mail we sent, come back.

    Every X-Loop header counts (each system a mail passed adds its own), so they are read
    from the raw header block; the parsed message keeps only the first.
    """
    if "x-loop" not in parsed.headers:
        return False
    head = (raw or b"").split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    values = [parsed.headers["x-loop"].encode("utf-8", "replace"),
              *_X_LOOP.findall(head)]
    named = {a.decode("ascii", "replace").lower() for v in values for a in _ADDRESS.findall(v)}
    return not named.isdisjoint(our_addresses)


_X_LOOP = re.compile(rb"(?im)^x-loop:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)")
_ADDRESS = re.compile(rb"[^\s<>\"(),;:@]+@[^\s<>\"(),;:@]+")
