"""The pipeline: the named steps a stored message goes through, top to bottom (SPEC:
message lifecycle), and the runner that claims pending messages and walks them through.

``steps/`` holds one module per step, in the order of ``STEPS``; ``runner`` claims a batch,
runs the steps for each message in its own savepoint and quarantines what fails with the
step's name; ``prepare`` asks the worker pool for a head start on a backlog.
"""

from ingestd.pipeline.context import Context, Stop
from ingestd.pipeline.runner import Processed, ProcessStats, process_pending, retry_quarantined
from ingestd.pipeline.steps import STEPS

__all__ = ["STEPS", "Context", "ProcessStats", "Processed", "Stop", "process_pending",
           "retry_quarantined"]
