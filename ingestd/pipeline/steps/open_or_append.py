"""Step: append a reply to its case (reopening it if needed) or open a new case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from ingestd import casework
from ingestd.pipeline.context import Context
from ingestd.procedure.followup_mail import confirms_solution
from storage import Case, CaseMessage, Participant
from storage.ops import next_id
from storage.pending import pending_rows

MAX_PARTICIPANTS = 100


def open_or_append(ctx: Context) -> None:
    """Step: append a reply to its case (reopening it if needed) or open a new case."""
    if ctx.case is not None and not _closed_too_long(ctx, ctx.case):
        _append(ctx, ctx.case)
        return
    linked = ctx.case
    ctx.case, ctx.new_case, ctx.outcome = _new_case(ctx), True, "new_case"
    if linked is not None:
        ctx.case.linked_case_id = linked.id
        ctx.flags.append(f"follows_closed_case:{linked.reference}")
    ctx.case.flags = sorted(set(ctx.flags))


def _closed_too_long(ctx: Context, case: Case) -> bool:
    window = timedelta(days=ctx.services.settings.cases.reopen_window_days)
    return case.status == "closed" and case.closed_at is not None and \
        ctx.services.clock() - case.closed_at > window


def _append(ctx: Context, case: Case) -> None:
    """The reply joins its case (reopening a resolved or closed one unless it confirms the
    solution); the assignee, or the team, hears of it."""
    ctx.outcome = "reply"
    ctx.session.add(CaseMessage(**_message_values(ctx, case)))
    answered = confirms_solution(case, ctx.parsed.reply_text)  # "solved, 5": stays resolved
    now = ctx.services.clock()
    if case.status in {"resolved", "closed"} and not answered:
        casework.set_status(ctx.session, case, "investigating", actor=ctx.parsed.sender_address
                            or "customer", at=now, note="reopened by reply")
        ctx.outcome = "reply_reopened"
    casework.customer_replied(ctx.session, ctx.services, case, text=ctx.parsed.reply_text,
                              at=now, key=f"replied:{ctx.raw.id}",
                              reopened=ctx.outcome == "reply_reopened")


def _new_case(ctx: Context) -> Case:
    parsed, now = ctx.parsed, ctx.services.clock()
    received_at = ctx.raw.received_at or now
    case_id = next_id(ctx.session, Case)
    prefix = ctx.services.settings.cases.reference_prefix
    case = Case(id=case_id, reference=f"{prefix}-{received_at.year}-{case_id:06d}",
                status="new", customer_name=parsed.sender_name,
                customer_address=parsed.sender_address, subject=parsed.subject,
                description=parsed.reply_text, received_at=received_at,
                order_numbers=list(parsed.order_numbers), phone_numbers=list(parsed.phone_numbers),
                # column defaults only apply at the INSERT; the next steps read these first
                escalation_level=0, escalate=False, serious=False, needs_review=False, flags=[])
    ctx.session.add(case)
    rows = pending_rows(ctx.session)  # its other rows are written with it (storage.pending)
    rows.add(ctx.session, CaseMessage, **_message_values(ctx, case))
    for address, name, role in _participants(ctx):
        rows.add(ctx.session, Participant, case_id=case.id, address=address, name=name,
                 role=role)
    casework.record(ctx.session, case, "status", actor="ingestd", at=now, new="new",
                    note=f"received from {ctx.raw.source}")
    return case


def _message_values(ctx: Context, case: Case) -> dict[str, Any]:
    # By case_id, not case=case: linking the two objects (the case's collection, cascades)
    # costs more than the row, and nothing reads the case's collections during a batch.
    parsed = ctx.parsed
    return {"case_id": case.id, "raw_message_id": ctx.raw.id, "direction": "in",
            "message_id": parsed.message_id, "sender": parsed.sender_address,
            "subject": parsed.subject, "text": parsed.reply_text,
            "sent_at": parsed.date or ctx.raw.received_at,
            "attachments": [vars(a) for a in parsed.attachments]}


def _participants(ctx: Context) -> Iterator[tuple[str, str | None, str]]:
    """(address, name, role) of the sender and the other recipients, ours left out."""
    ours = ctx.services.settings.our_addresses()
    parsed = ctx.parsed
    seen: set[str] = set()
    for address, role in [(parsed.sender_address, "customer"),
                          *((a, "cc") for a in (*parsed.to, *parsed.cc))]:
        if len(seen) >= MAX_PARTICIPANTS:  # a Cc bomb of thousands gets no say in the case
            ctx.flags.append("participants_truncated")
            return
        if address and address not in ours and address not in seen:
            seen.add(address)
            yield address, parsed.sender_name if role == "customer" else None, role
