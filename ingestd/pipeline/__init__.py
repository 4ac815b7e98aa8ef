"""The pipeline: named steps a message goes through, top to bottom (SPEC: lifecycle).

parse → filter loops → find its case → open or append → triage → start clocks → acknowledge

Each step takes the Context and changes it. A step ends the flow on purpose by raising
`Stop`; any other exception sends the message to quarantine with the step's name.
"""

from ingestd.pipeline.context import Context, ModelHolder, Services, Stop
from ingestd.pipeline.runner import Processed, ProcessStats, process_pending, retry_quarantined
from ingestd.pipeline.steps import STEPS

__all__ = ["STEPS", "Context", "ModelHolder", "ProcessStats", "Processed", "Services", "Stop",
           "process_pending", "retry_quarantined"]
