"""The steps every message takes, in this order (SPEC: message lifecycle); one module each.

parse → filter_loops → find_case → drop_stray_auto_replies → open_or_append →
record_followup → triage → start_clocks → acknowledge

A step takes the Context and changes it. It ends the flow on purpose by raising
``Stop``; any other exception sends the message to quarantine with the step's name.
"""

from ingestd.pipeline.steps.acknowledge import acknowledge
from ingestd.pipeline.steps.drop_stray_auto_replies import drop_stray_auto_replies
from ingestd.pipeline.steps.filter_loops import filter_loops
from ingestd.pipeline.steps.find_case import find_case
from ingestd.pipeline.steps.open_or_append import open_or_append
from ingestd.pipeline.steps.parse import parse
from ingestd.pipeline.steps.record_followup import record_followup
from ingestd.pipeline.steps.start_clocks import start_clocks
from ingestd.pipeline.steps.triage import triage

STEPS = (parse, filter_loops, find_case, drop_stray_auto_replies, open_or_append,
         record_followup, triage, start_clocks, acknowledge)

__all__ = ["STEPS"]
