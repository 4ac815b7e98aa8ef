"""Storage: the schema, engines and migrations. Knows nothing of mail sources."""

from storage.db import is_current, make_engine, reading, sessions, setting, transaction, upgrade
from storage.schema import (
    AppUser,
    Base,
    Case,
    CaseMessage,
    CaseNote,
    Event,
    FolderState,
    MessageKey,
    Outbox,
    Participant,
    Quarantine,
    RawMessage,
    Setting,
    Suppression,
    utcnow,
)

__all__ = [
    "AppUser", "Base", "Case", "CaseMessage", "CaseNote", "Event", "FolderState", "MessageKey",
    "Outbox", "Participant", "Quarantine", "RawMessage", "Setting", "Suppression", "is_current",
    "make_engine", "reading", "sessions", "setting", "transaction", "upgrade", "utcnow",
]
