"""The steps in the order every message takes them."""

from ingestd.pipeline.acknowledge import acknowledge, filter_loops, parse
from ingestd.pipeline.open_case import open_or_append, start_clocks, triage
from ingestd.pipeline.thread import find_case

STEPS = (parse, filter_loops, find_case, open_or_append, triage, start_clocks, acknowledge)
