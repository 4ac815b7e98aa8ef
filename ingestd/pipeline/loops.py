"""Mail we must never answer: robots, lists, bounces and ourselves (SPEC: no mail loops)."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from ingestd.message import ParsedMessage
from storage import Outbox
from storage.pending import count_with_pending

ACK_KINDS = ("acknowledgment", "acknowledgment_urgent")


def suppression_reason(parsed: ParsedMessage, our_addresses: Collection[str]) -> str | None:
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
    )
    return next((reason for hit, reason in checks if hit), None)


def is_auto_reply(parsed: ParsedMessage) -> bool:
    """An out-of-office or vacation answer (RFC 3834 and the common vendor headers)."""
    headers = parsed.headers
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    return auto == "auto-replied" or "x-autoreply" in headers or "x-autorespond" in headers


def is_bounce(parsed: ParsedMessage) -> bool:
    sender = parsed.sender_address or ""
    return parsed.content_type == "multipart/report" or bool(
        re.match(r"^(mailer-daemon|postmaster)@", sender))


# Built once, run for every new case; the kinds as ORs of equalities, not IN: SQLAlchemy
# renders an IN list again at every execution, which cost more than the query on SQLite.
_ACKS_SINCE = select(func.count(Outbox.id)).where(
    Outbox.recipient == bindparam("recipient"), or_(*(Outbox.kind == kind for kind in ACK_KINDS)),
    Outbox.created_at >= bindparam("since"))


def over_rate_limit(session: Session, recipient: str, limit: int,
                    now_minus_hour: datetime) -> bool:
    """True when `recipient` already had `limit` acknowledgments in the last hour."""
    sent = count_with_pending(
        session, _ACKS_SINCE, {"recipient": recipient, "since": now_minus_hour}, Outbox,
        lambda o: o.recipient == recipient and o.kind in ACK_KINDS and
        o.created_at >= now_minus_hour)
    return sent >= limit


HOUR = timedelta(hours=1)
