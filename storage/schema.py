"""The database schema: every table ingestd keeps, in one place.

Raw mail is kept as it came (`raw_message`), apart from what was made of it (`case`,
`case_message`), so that a message can always be re-run from its bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    literal_column,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Setting(Base):
    """Installation-wide values all instances share (the HMAC key for our Message-IDs)."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FolderState(Base):
    """Where a mailbox folder was left: its UIDVALIDITY and the last UID committed."""

    __tablename__ = "folder_state"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)


class RawMessage(Base):
    """One delivery of one mail, bytes as received, and how far processing got."""

    __tablename__ = "raw_message"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(500), default="")
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[str | None] = mapped_column(String(200))
    dedup_key: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str | None] = mapped_column(String(998))
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("raw_message.id"))
    outcome: Mapped[str | None] = mapped_column(String(200))
    processed_at: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("source", "folder", "uidvalidity", "uid"),)


class MessageKey(Base):
    """One row per distinct mail (Message-ID + body digest): the deduplication guard."""

    __tablename__ = "message_key"
    dedup_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    raw_message_id: Mapped[int] = mapped_column(ForeignKey("raw_message.id", ondelete="CASCADE"))


class Quarantine(Base):
    """A message that failed a step, with the step and the error, waiting for a retry."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    raw_message_id: Mapped[int] = mapped_column(
        ForeignKey("raw_message.id", ondelete="CASCADE"), unique=True)
    step: Mapped[str] = mapped_column(String(50))
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[datetime | None]


class Case(Base):
    """A complaint: who, what, its triage, its clocks and where it stands."""

    __tablename__ = "case"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    customer_name: Mapped[str | None] = mapped_column(String(300))
    customer_address: Mapped[str | None] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    order_numbers: Mapped[list[Any]] = mapped_column(default=list)
    phone_numbers: Mapped[list[Any]] = mapped_column(default=list)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    linked_case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    # triage
    category: Mapped[str | None] = mapped_column(String(40), index=True)
    severity: Mapped[str | None] = mapped_column(String(20), index=True)
    escalate: Mapped[bool] = mapped_column(default=False)
    confidence: Mapped[float | None]
    needs_review: Mapped[bool] = mapped_column(default=False)
    triage: Mapped[dict[str, Any] | None]
    labelled_by: Mapped[str | None] = mapped_column(String(200))
    labelled_at: Mapped[datetime | None]
    # work and service levels
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    serious: Mapped[bool] = mapped_column(default=False)
    assignee: Mapped[str | None] = mapped_column(String(200), index=True)
    assigned_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    acknowledge_due: Mapped[datetime | None]
    investigate_due: Mapped[datetime | None]
    resolve_due: Mapped[datetime | None]
    followup_due: Mapped[datetime | None]
    followup_sent_at: Mapped[datetime | None]
    satisfaction: Mapped[int | None]
    solved_confirmed: Mapped[bool | None]
    recovery: Mapped[dict[str, Any] | None]
    corrective_action: Mapped[dict[str, Any] | None]
    qa: Mapped[dict[str, Any] | None]
    # marked spam or a newsletter by an agent: closed without a customer mail, left out of
    # reports and out of training as a complaint
    not_complaint: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        # category spikes and monthly reports count cases by category over time
        Index("ix_case_category_received_at", "category", "received_at"),
        Index("ix_case_received_at", "received_at"),
        Index("ix_case_customer_received_at", "customer_address", "received_at"),
        # the desk's lists of open or closed cases, newest first
        Index("ix_case_status_received_at", "status", "received_at"),
    )

    messages: Mapped[list[CaseMessage]] = relationship(
        back_populates="case", order_by="CaseMessage.id", cascade="all, delete-orphan")
    participants: Mapped[list[Participant]] = relationship(
        back_populates="case", cascade="all, delete-orphan")
    events: Mapped[list[Event]] = relationship(
        back_populates="case", order_by="Event.id", cascade="all, delete-orphan")


# When a case's next step falls due: the first deadline of acknowledge, investigate, resolve
# and follow-up not yet done; NULL for a closed case (as `casework.summary` says it). The
# database computes it as the generated column `case.next_due` (migration 0003: virtual on
# SQLite, stored on PostgreSQL), indexed with the status, so the desk sorts and filters by it
# without reading the cases' rows. It is no ORM attribute: the ORM never writes it.
NEXT_DUE_SQL = (
    "CASE WHEN status = 'closed' THEN NULL"
    " WHEN acknowledged_at IS NULL AND acknowledge_due IS NOT NULL THEN acknowledge_due"
    " WHEN assigned_at IS NULL AND investigate_due IS NOT NULL THEN investigate_due"
    " WHEN resolved_at IS NULL AND resolve_due IS NOT NULL THEN resolve_due"
    " WHEN followup_sent_at IS NULL THEN followup_due END")
NEXT_DUE: ColumnElement[datetime] = literal_column('"case".next_due', UtcDateTime())


class AppUser(Base):
    """An agent or admin of the web desk; their name is the login and the assignee name."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="agent")  # "agent" or "admin"
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseNote(Base):
    """An agent's internal note on a case: for colleagues, never mailed to anyone."""

    __tablename__ = "case_note"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str] = mapped_column(Text)


class CaseMessage(Base):
    """A mail on a case, received or sent; its Message-ID threads replies onto the case."""

    __tablename__ = "case_message"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    # Written as NULL rather than left out when None (mail we sent has no raw message), so
    # received and sent rows have the same columns and a flush inserts them in one batch.
    raw_message_id: Mapped[int | None] = mapped_column(Id.evaluates_none(),
                                                       ForeignKey("raw_message.id"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out"
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    case: Mapped[Case] = relationship(back_populates="messages")


class Participant(Base):
    """An address that may write into a case by its subject tag."""

    __tablename__ = "participant"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20), default="customer")
    case: Mapped[Case] = relationship(back_populates="participants")
    __table_args__ = (UniqueConstraint("case_id", "address"),)


class Event(Base):
    """Something that happened to a case: status change, escalation, label, suppression..."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200), default="ingestd")
    kind: Mapped[str] = mapped_column(String(40))
    old: Mapped[str | None] = mapped_column(String(200))
    new: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    case: Mapped[Case] = relationship(back_populates="events")
    __table_args__ = (
        # An escalation to a level is recorded once, however many sweeps run at once.
        Index("uq_event_escalation", "case_id", "new", unique=True,
              sqlite_where=text("kind = 'escalation'"),
              postgresql_where=text("kind = 'escalation'")),
    )


class Outbox(Base):
    """A mail to send, written with the case in one transaction; the sender delivers it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    # The customer the mail is about (an acknowledgment's recipient), normalised: the flood
    # caps count mail per sender however its address is spelt.
    sender_key: Mapped[str | None] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)  # one mail per purpose
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    bounced_at: Mapped[datetime | None]
    __table_args__ = (
        # the flood caps count the last hour's mail per sender, per kind and per address
        Index("ix_outbox_sender_key_created_at", "sender_key", "created_at"),
        Index("ix_outbox_kind_created_at", "kind", "created_at"),
        Index("ix_outbox_recipient_kind_created_at", "recipient", "kind", "created_at"),
    )


class Suppression(Base):
    """An acknowledgment we decided not to send, and why (loop and bounce protection)."""

    __tablename__ = "suppression"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    raw_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("raw_message.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    sender: Mapped[str | None] = mapped_column(String(320), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
