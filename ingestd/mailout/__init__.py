"""Outgoing mail: composing from templates and delivering the outbox."""

from ingestd.mailout.compose import Composer, Draft, verify_message_id

__all__ = ["Composer", "Draft", "verify_message_id"]
