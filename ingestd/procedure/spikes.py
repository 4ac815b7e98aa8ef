"""When a category counts as spiking: the `[recurring]` section of config.toml.

Apart from `ingestd.procedure.recurring`, which counts the cases, so that reading the
configuration loads no database layer (`run --once` starts its workers right after it).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class SpikePolicy(BaseModel):
    """When a category counts as spiking: the `[recurring]` section (suggested) of config.toml.

    A spike is more than `min_cases` cases of one category in the last `window_hours`, and
    more than `factor` times the average of the same-length windows over the `baseline_days`
    before it (or over the history there is, when shorter). The floor keeps a quiet category
    (baseline 0.1) from spiking on two mails; with less than one window of history nothing
    is a spike, so a fresh installation draining its first backlog does not escalate it all.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_hours: Annotated[float, Field(gt=0)] = 24
    baseline_days: Annotated[float, Field(gt=0)] = 28
    factor: Annotated[float, Field(ge=1)] = 3.0
    min_cases: Annotated[int, Field(ge=1)] = 10
