"""Quality review: a random sample of resolved cases, and the reviewer's verdict on each.

The sample is recorded on the case (Case.qa) so a case is reviewed once and the verdicts
can be counted later; a seed makes the draw repeatable.
"""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestd import casework
from ingestd.errors import IngestdError
from storage import Case

VERDICTS = ("pass", "fail")


def sample(session: Session, n: int, *, actor: str, at: datetime,
           seed: int | None = None) -> list[Case]:
    """Pick up to `n` resolved or closed cases not yet sampled, and mark them for review."""
    if n < 1:
        raise IngestdError("the sample size must be at least 1")
    pool = [c for c in session.scalars(select(Case).where(
        Case.status.in_(("resolved", "closed")), Case.not_complaint.is_(False)).order_by(Case.id))
        if not c.qa]
    chosen = sorted(random.Random(seed).sample(pool, min(n, len(pool))),  # noqa: S311  (not crypto)
                    key=lambda c: c.id)
    for case in chosen:
        case.qa = {"sampled_at": at.isoformat(), "sampled_by": actor, "seed": seed,
                   "verdict": None}
        casework.record(session, case, "qa_sampled", actor=actor, at=at)
    return chosen


def verdict(session: Session, case: Case, result: str, *, note: str | None, actor: str,
            at: datetime) -> None:
    """Record the reviewer's pass or fail, with why."""
    if result not in VERDICTS:
        raise IngestdError(f"verdict must be one of {', '.join(VERDICTS)}")
    case.qa = {**(case.qa or {}), "verdict": result, "note": note, "reviewer": actor,
               "reviewed_at": at.isoformat()}
    casework.record(session, case, "qa_verdict", actor=actor, at=at,
                    old=None, new=result, note=note)
