"""Which case a mail belongs to (SPEC: reference numbers and threading).

A mail joins a case when it answers a Message-ID that case received or sent and the sender
is a participant or answers one of our own (HMAC-signed) Message-IDs; or when its subject
carries the case's tag and the sender is a participant. Anything else is a new case, flagged
when it cites another case, so a stranger never reads or writes someone else's case.
A From is easy to forge: with [threading] require_authenticated_sender, a tag joins only a
mail whose sender our receiving server authenticated (`ingestd.authresults`).
"""

from __future__ import annotations

import re

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ingestd.authresults import sender_verdict
from ingestd.pipeline.context import Context
from storage import Case, CaseMessage, Participant

log = structlog.get_logger("ingestd.pipeline")
TAG = re.compile(r"\[([A-Z][A-Z0-9]{1,9}-\d{4}-\d{4,})\]")
CITED = 100  # Message-IDs and tags looked up, nearest first: one mail named 50,000 (20 s)
# Built once: building a statement costs more than running it.
_BY_REFERENCE = select(Case).where(Case.reference == bindparam("reference"))
_CASE_OF_MESSAGE = select(CaseMessage.case_id).where(
    CaseMessage.message_id == bindparam("message_id")).limit(1)
_PARTICIPANT = select(Participant.id).where(
    Participant.case_id == bindparam("case_id"), Participant.address == bindparam("address"))


def find_case(ctx: Context) -> None:
    """Step: attach the mail to its case, or leave ctx.case empty for a new one."""
    parsed, session = ctx.parsed, ctx.session
    sender, cited = parsed.sender_address or "", parsed.referenced_ids()[:CITED]
    tags = list(dict.fromkeys(TAG.findall(parsed.subject)))[:CITED]
    if cited or tags:
        session.flush()  # the case may be one the batch's earlier messages opened
    for message_id in cited:
        case = _case_of_message(session, message_id)
        if case is None:
            if ctx.services.composer.is_ours(message_id) is None and _looks_ours(ctx, message_id):
                ctx.flags.append("forged_message_id")
            continue
        if _is_participant(session, case, sender) or ctx.services.composer.is_ours(message_id):
            ctx.case = case
            return
        ctx.flags.append(f"cites_other_case:{case.reference}")
    for reference in tags:
        case = session.scalar(_BY_REFERENCE, {"reference": reference})
        if case is not None and _is_participant(session, case, sender) \
                and _authenticated(ctx, reference, sender):
            ctx.case = case
            return
        ctx.flags.append(f"cites_reference:{reference}")


def _authenticated(ctx: Context, reference: str, sender: str) -> bool:
    """With [threading] require_authenticated_sender: did our server vouch for the From?"""
    wanted = ctx.services.settings.threading
    if not wanted.require_authenticated_sender:
        return True
    verdict = sender_verdict(ctx.raw.raw or b"", wanted.authserv_id or "", sender)
    if not verdict.authenticated:
        log.warning("tag_not_trusted", raw_id=ctx.raw.id, reference=reference,
                 reason=verdict.reason)
        ctx.flags.append(f"unauthenticated_sender:{reference}")
    return verdict.authenticated


def _case_of_message(session: Session, message_id: str) -> Case | None:
    case_id = session.scalar(_CASE_OF_MESSAGE, {"message_id": message_id})
    return None if case_id is None else session.get(Case, case_id)


def _is_participant(session: Session, case: Case, address: str) -> bool:
    if not address:
        return False
    found = session.scalar(_PARTICIPANT, {"case_id": case.id, "address": address})
    return found is not None


def _looks_ours(ctx: Context, message_id: str) -> bool:
    return message_id.endswith("@" + ctx.services.composer.domain)
