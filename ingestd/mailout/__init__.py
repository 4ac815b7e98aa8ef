"""Outgoing mail: composing from templates and delivering the outbox."""

from ingestd.mailout.compose import KINDS, Composer, Draft, verify_message_id

__all__ = ["KINDS", "Composer", "Draft", "verify_message_id"]
