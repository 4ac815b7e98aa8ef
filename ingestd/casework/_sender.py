"""The outbox's sender, told to record on the case what it delivered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingestd.casework._floods import send_digests
from ingestd.casework._status import acknowledgment_sent
from ingestd.instance import instance
from ingestd.mailout.sender import BATCH, Sender, SendStats, database_errors
from storage import transaction

if TYPE_CHECKING:
    from ingestd.services import Services


class _CaseworkSender(Sender):
    """Before each delivery run, mail held over the flood caps long enough becomes digests."""

    def __init__(self, services: Services) -> None:
        super().__init__(services.settings.smtp, services.factory, services.clock, instance(),
                         on_sent=acknowledgment_sent)
        self.composer = services.composer

    def deliver_pending(self, limit: int = BATCH) -> SendStats:
        with database_errors(), transaction(self.factory) as session:
            send_digests(session, self.composer, self.clock())
        return super().deliver_pending(limit)


def build_sender(services: Services) -> Sender:
    """A sender for the configured [smtp]; a sent acknowledgment marks its case acknowledged."""
    return _CaseworkSender(services)
