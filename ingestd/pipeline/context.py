"""What a pipeline step gets: the message in hand and the services it may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ingestd.message import ParsedMessage
from ingestd.services import Services
from ingestd.worker import Prepared
from storage import Case

if TYPE_CHECKING:
    from triage import TriageResult


class Stop(Exception):
    """A step ends the flow for this message on purpose; `outcome` says why."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@dataclass(frozen=True)
class Claimed:
    """A pending raw message as the steps see it.

    Its columns, not an ORM object, so that a batch writes every message's new state in
    one statement at its end.
    """

    id: int
    source: str
    folder: str
    uid: str | None
    raw: bytes | None
    received_at: datetime


@dataclass
class Context:
    """One message on its way through the steps."""

    session: Session
    services: Services
    raw: Claimed
    prepared: Prepared | None = None
    parsed: ParsedMessage = field(init=False)
    case: Case | None = None
    new_case: bool = False
    suppressed: str | None = None
    triage: TriageResult | None = None
    outcome: str = "new_case"
    flags: list[str] = field(default_factory=list)
