"""Step: classify a new case, apply the rules, and escalate at once when they say so."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from ingestd.mimelimits import triage_view
from ingestd.pipeline.context import Context
from ingestd.procedure.recurring import category_spike
from ingestd.worker import Prepared
from storage import Case
from storage.queries import complaints_since

if TYPE_CHECKING:
    from triage.model import Scores

RECURRING_WINDOW = timedelta(days=30)


def triage(ctx: Context) -> None:
    """Step: classify a new case, apply the rules, and escalate at once when they say so."""
    if not ctx.new_case or ctx.case is None:
        return
    from triage import Signals  # noqa: PLC0415  (scikit-learn loads only when needed)

    case, services = ctx.case, ctx.services
    prepared = ctx.prepared
    ahead = prepared if prepared is not None and prepared.score_values is not None and \
        services.model.serves(prepared.stamp) else None
    signals = Signals(recent_complaints_30d=_recent_complaints(ctx, case))
    if ahead is not None and ahead.decision is not None and signals == Signals():
        result = ahead.decision  # a worker decided it: this process needs no model
    else:
        result = services.model.get().decide(_scores(ctx, ahead), signals)
    if category_spike(ctx.session, result.category, services.clock(),
                      services.settings.recurring):
        signals = replace(signals, category_spike=True)
        result = services.model.get().decide(_scores(ctx, ahead), signals)
    ctx.triage = result
    case.category, case.severity, case.escalate = result.category, result.severity, result.escalate
    case.confidence, case.needs_review = result.confidence, result.needs_review
    case.triage = {**result.as_json(), "probabilities": result.probabilities,
                   "needs_review": result.needs_review}
    case.serious = result.escalate


def _scores(ctx: Context, ahead: Prepared | None) -> Scores:
    scores = ahead.scores if ahead is not None else None
    if scores is not None:
        return scores
    limits = ctx.services.settings.limits.parse_limits()
    return ctx.services.model.get().score(
        *triage_view(ctx.parsed.subject, ctx.parsed.reply_text, limits))


def _recent_complaints(ctx: Context, case: Case) -> int:
    since, address = case.received_at - RECURRING_WINDOW, case.customer_address
    return complaints_since(ctx.session, address, since, other_than=case.id)
