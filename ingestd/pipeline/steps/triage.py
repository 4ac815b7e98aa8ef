"""Step: classify a new case, apply the rules, and escalate at once when they say so."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ingestd.mimelimits import triage_view
from ingestd.pipeline.context import Context
from ingestd.procedure.recurring import category_spike
from storage import Case
from storage.queries import complaints_since

RECURRING_WINDOW = timedelta(days=30)


def triage(ctx: Context) -> None:
    """Step: classify a new case, apply the rules, and escalate at once when they say so."""
    if not ctx.new_case or ctx.case is None:
        return
    from triage import Signals  # noqa: PLC0415  (scikit-learn loads only when needed)

    case, parsed = ctx.case, ctx.parsed
    model = ctx.services.model.get()
    prepared = ctx.prepared
    if prepared is not None and prepared.scores is not None and \
            prepared.stamp == ctx.services.model.stamp:
        scores = prepared.scores
    else:
        limits = ctx.services.settings.limits.parse_limits()
        scores = model.score(*triage_view(parsed.subject, parsed.reply_text, limits))
    signals = Signals(recent_complaints_30d=_recent_complaints(ctx, case))
    result = model.decide(scores, signals)
    if category_spike(ctx.session, result.category, ctx.services.clock(),
                      ctx.services.settings.recurring):
        signals = replace(signals, category_spike=True)
        result = model.decide(scores, signals)
    ctx.triage = result
    case.category, case.severity, case.escalate = result.category, result.severity, result.escalate
    case.confidence, case.needs_review = result.confidence, result.needs_review
    case.triage = {**result.as_json(), "probabilities": result.probabilities,
                   "needs_review": result.needs_review}
    case.serious = result.escalate


def _recent_complaints(ctx: Context, case: Case) -> int:
    since, address = case.received_at - RECURRING_WINDOW, case.customer_address
    return complaints_since(ctx.session, address, since, other_than=case.id)
