"""The outbox's sender, told to record on the case what it delivered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingestd.casework._status import acknowledgment_sent
from ingestd.instance import instance
from ingestd.mailout.sender import Sender

if TYPE_CHECKING:
    from ingestd.services import Services


def build_sender(services: Services) -> Sender:
    """A sender for the configured [smtp]; a sent acknowledgment marks its case acknowledged."""
    return Sender(services.settings.smtp, services.factory, services.clock, instance(),
                  on_sent=acknowledgment_sent)
