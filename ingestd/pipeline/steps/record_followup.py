"""Step: read the customer's answer to the satisfaction follow-up (runs after open_or_append).

"Solved, 5" records the score and the confirmation and leaves the case resolved (open_or_append
does not reopen it); "not solved" records the answer and puts the case back to investigating.
"""

from __future__ import annotations

from ingestd import casework
from ingestd.pipeline.context import Context
from ingestd.procedure.followup_mail import answers_followup


def record_followup(ctx: Context) -> None:
    """Step: record satisfaction (1-5) and solved / not solved from a follow-up answer."""
    case = ctx.case
    if case is None or ctx.new_case or not ctx.outcome.startswith("reply"):
        return
    answer = answers_followup(case, ctx.parsed.reply_text)
    if answer is None:
        return
    now, actor = ctx.services.clock(), ctx.parsed.sender_address or "customer"
    if answer.score is not None:
        case.satisfaction = answer.score
    if answer.solved is not None:
        case.solved_confirmed = answer.solved
    casework.record(ctx.session, case, "satisfaction", actor=actor, at=now,
                    new=str(answer.score) if answer.score is not None else None,
                    note={True: "solved", False: "not solved", None: None}[answer.solved],
                    data={"score": answer.score, "solved": answer.solved})
    if answer.solved is False:
        casework.set_status(ctx.session, case, "investigating", actor=actor, at=now,
                            note="customer says not solved")
        case.followup_due = None
    ctx.outcome = "followup_answer"
