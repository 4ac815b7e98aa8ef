"""Flood caps: how much automatic mail one sender, and everyone together, may cause an hour.

A loop with another robot, a spam run or one angry sender must not turn into hundreds of
acknowledgments or hundreds of team and escalation mails. Senders are counted by their
normalised address, so `ann+1@`, `Ann@` and (where the domain ignores dots) `a.nn@` are one.
Acknowledgments over a cap are suppressed (the pipeline records why); team and escalation
mail over a cap is held in the outbox, and an hour after the first one held for an address,
one digest lists everything held for it since ([floods] in config.toml).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingestd.casework._record import enqueue
from ingestd.config import FloodsConfig
from ingestd.mailout import Composer, Draft
from storage import Case, Outbox
from storage.queries import acknowledgments_since, all_acknowledgments_since, team_mails_since

HOUR = timedelta(hours=1)
DIGEST_REFERENCE = "DIGEST"  # tags the digest's subject and Message-ID (ours, never a case)
DIGEST_LISTED = 100  # cases a digest lists by name; it counts the rest
HELD = "held_"  # prefix of a held mail's kind: held_team_notification, held_escalation
_DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


def sender_key(address: str | None, floods: FloodsConfig) -> str | None:
    """`address` as the caps count it: case folded, `+tag` removed, dots removed where the
    domain ignores them (`A.Nn+x@GoogleMail.com` is `ann@gmail.com`)."""
    if not address:
        return None
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return domain
    local = local.split("+", 1)[0] or local
    if domain in floods.dotless_domains:
        local, domain = local.replace(".", ""), _DOMAIN_ALIASES.get(domain, domain)
    return f"{local}@{domain}"


def acknowledgment_withheld(session: Session, sender: str | None, per_sender: int,
                            floods: FloodsConfig, now: datetime) -> str | None:
    """Why the acknowledgment to `sender` (a normalised key) must not go, or None."""
    since = now - HOUR
    if sender is not None and acknowledgments_since(session, sender, since) >= per_sender:
        return f"rate limit: {per_sender} acknowledgments per hour"
    if all_acknowledgments_since(session, since) >= floods.acknowledgments_per_hour:
        return f"flood cap: {floods.acknowledgments_per_hour} acknowledgments per hour in all"
    return None


def notify(session: Session, draft: Draft, case: Case, *, key: str, at: datetime,
           floods: FloodsConfig, due: datetime | None = None) -> bool:
    """Queue a team or escalation mail about `case` (sent from `due` on, see `enqueue`), or
    hold it for the digest when over a flood cap; True when it is to be sent on its own."""
    sender = sender_key(case.customer_address, floods)
    if not _over_team_caps(session, draft.recipient, sender, floods, at):
        enqueue(session, draft, case, key=key, at=at, due=due, sender_key=sender)
        return True
    # Held under a kind of its own: the caps' counts never read a flood's held mail again.
    held = replace(draft, kind=HELD + draft.kind)
    enqueue(session, held, case, key=key, at=at, sender_key=sender, state="held")
    return False


def _over_team_caps(session: Session, recipient: str, sender: str | None,
                    floods: FloodsConfig, now: datetime) -> bool:
    since = now - HOUR
    if sender is not None and team_mails_since(
            session, recipient, since, sender) >= floods.team_mails_per_sender_per_hour:
        return True
    return team_mails_since(session, recipient, since) >= floods.team_mails_per_hour


def send_digests(session: Session, composer: Composer, now: datetime) -> int:
    """Queue one digest for each address whose first held mail waited an hour; how many."""
    due = select(Outbox.recipient).where(Outbox.state == "held").group_by(
        Outbox.recipient).having(func.min(Outbox.created_at) <= now - HOUR)
    queued = 0
    for recipient in list(session.scalars(due)):
        try:
            with session.begin_nested():
                _digest(session, composer, recipient, now)
                session.flush()
            queued += 1
        except IntegrityError:  # another instance made this digest a moment ago
            continue
    return queued


def _digest(session: Session, composer: Composer, recipient: str, now: datetime) -> None:
    rows = session.execute(
        select(Outbox.id, Outbox.kind, Outbox.created_at, Case).outerjoin(
            Case, Case.id == Outbox.case_id)
        .where(Outbox.recipient == recipient, Outbox.state == "held").order_by(Outbox.id)).all()
    entries = [_entry(kind.removeprefix(HELD), case)
               for _id, kind, _at, case in rows[:DIGEST_LISTED]]
    draft = composer.compose("digest", recipient, DIGEST_REFERENCE, {
        "recipient": recipient, "total": len(rows), "entries": entries,
        "more": len(rows) - len(entries),
        "since": rows[0].created_at.strftime("%Y-%m-%d %H:%M UTC")})
    session.execute(update(Outbox).where(Outbox.id.in_([r.id for r in rows])).values(
        state="digested", response=f"in the digest {draft.message_id}"))
    enqueue(session, draft, None, key=f"digest:{rows[0].id}", at=now)


def _entry(kind: str, case: Case | None) -> dict[str, Any]:
    if case is None:
        return {"kind": kind, "reference": "", "severity": "", "category": "", "customer": "",
                "subject": ""}
    return {"kind": kind, "reference": case.reference or "", "severity": case.severity or "",
            "category": case.category or "", "customer": case.customer_address or "",
            "subject": " ".join(case.subject.split())[:80]}
