"""The satisfaction follow-up: sent once after resolution, and the customer's answer read.

The mail asks for "solved" / "not solved" and a score from 1 to 5. Answers come in many
shapes ("Solved, 5", "4/5 - gelöst", "pas résolu. note 2"); we read the basic words in
English, German, French and Spanish and the first lone digit 1-5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ingestd import casework
from ingestd.procedure.deadlines import followup_due
from storage import Case

if TYPE_CHECKING:
    from ingestd.services import Services

# Negated forms first: "not solved" also contains "solved".
_NOT_SOLVED = re.compile(
    r"\b(?:not|isn'?t|wasn'?t|hasn'?t been|never|still not|nicht|noch nicht|kein|pas|non|"
    r"no|todav[ií]a no|sin)\s+(?:been\s+|yet\s+|wirklich\s+|encore\s+|vraiment\s+)?"
    r"(?:solved|resolved|fixed|gel[öo]st|behoben|erledigt|r[ée]solu|r[ée]gl[ée]|"
    r"resuelto|solucionado|arreglado)|\b(?:unsolved|unresolved|ungel[öo]st|irr[ée]solu)\b",
    re.IGNORECASE)
_SOLVED = re.compile(
    r"\b(?:solved|resolved|fixed|gel[öo]st|behoben|erledigt|r[ée]solu|r[ée]gl[ée]|resuelto|"
    r"solucionado|arreglado)\b", re.IGNORECASE)
_SCORE = re.compile(r"(?<![\d.,:/-])([1-5])(?:\s*(?:/|out of|von|sur|de)\s*5)?(?![\d.,:]|\s*%)")
_READ_CHARS = 400  # the answer is at the top; further down are signatures and phone numbers


@dataclass(frozen=True)
class FollowupAnswer:
    """What a customer's answer says: a score 1-5 and solved or not, either may be missing."""

    score: int | None
    solved: bool | None

    @property
    def empty(self) -> bool:
        return self.score is None and self.solved is None


def read_answer(text: str) -> FollowupAnswer:
    """Read score and solved / not solved from the top of a reply."""
    head = text.strip()[:_READ_CHARS]
    solved = False if _NOT_SOLVED.search(head) else (True if _SOLVED.search(head) else None)
    match = _SCORE.search(head)
    return FollowupAnswer(score=int(match.group(1)) if match else None, solved=solved)


def answers_followup(case: Case, text: str) -> FollowupAnswer | None:
    """The answer when `text` replies to the case's follow-up; None for any other reply."""
    if case.followup_sent_at is None:
        return None
    answer = read_answer(text)
    return None if answer.empty else answer


def confirms_solution(case: Case, text: str) -> bool:
    """True for a follow-up answer that does not say "not solved": no reason to reopen."""
    answer = answers_followup(case, text)
    return answer is not None and answer.solved is not False


def send_due_followups(session: Session, services: Services, cases: list[Case],
                       now: datetime, due: datetime | None = None) -> list[str]:
    """Queue the follow-up for each resolved case whose time has come; returns references.

    The mail may be sent from `due` on (default `now`)."""
    sent = []
    for case in cases:
        if case.followup_due is None and case.resolved_at is not None:
            case.followup_due = followup_due(case.resolved_at, services.settings.sla,
                                             services.calendar)
        if case.followup_due is not None and case.followup_due <= now and _send(
                session, services, case, now, due or now):
            sent.append(case.reference or "")
    return sent


def _send(session: Session, services: Services, case: Case, now: datetime,
          due: datetime) -> bool:
    if not case.customer_address:
        return False
    latest = casework.latest_inbound(session, case)
    draft = services.composer.compose(
        "followup", case.customer_address, case.reference or "",
        casework.case_view(case, services.calendar.zone),
        in_reply_to=latest.message_id if latest else None)
    casework.enqueue(session, draft, case, key=f"followup:{case.id}", at=now, to_customer=True,
                      due=due)
    case.followup_sent_at = now
    casework.record(session, case, "followup", actor="ingestd", at=now,
                    new=case.customer_address, note="satisfaction request sent")
    return True
