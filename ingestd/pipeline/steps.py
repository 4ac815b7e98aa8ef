"""The steps in the order every message takes them."""

from ingestd.pipeline.acknowledge import (
    acknowledge,
    drop_stray_auto_replies,
    filter_loops,
    parse,
)
from ingestd.pipeline.followup import record_followup
from ingestd.pipeline.open_case import open_or_append, start_clocks, triage
from ingestd.pipeline.thread import find_case

STEPS = (parse, filter_loops, find_case, drop_stray_auto_replies, open_or_append,
         record_followup, triage, start_clocks, acknowledge)
