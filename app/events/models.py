"""The event log's tables: the events (append-only), the sequence that orders them for readers,
and each webhook endpoint's deliveries with every attempt kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UtcDateTime, db


class Event(db.Model):
    """One change of the catalogue, written in the transaction of the change (an outbox). Never
    updated but for ``seq``, given once the row is committed (:func:`app.events.log.sequence`)."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)      # evt_… : the webhook-id too
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)   # the feed's order; None: not yet
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    recording_id: Mapped[str | None] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    data: Mapped[dict] = mapped_column(JSON, nullable=False)

    # Every index is written by an ICE that records (a page or more of the commit each), so only
    # what reads need: a recording's events and a call's. The sequencer's work list (seq IS NULL)
    # and the feed's order come from seq's own unique index; a type filter reads the feed in order.
    __table_args__ = (
        Index("ix_events_recording_id", "recording_id", "seq"),
        Index("ix_events_call_id", "call_id", "seq"),
    )


class EventSequence(db.Model):
    """One row: the last ``seq`` given. Updating it first is the sequencer's lock on both databases."""

    __tablename__ = "event_sequence"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger, nullable=False)


class WebhookDelivery(db.Model):
    """One event for one endpoint: pending until a 2xx (delivered) or the schedule runs out (failed)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # None once final
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)    # a sender owns it until then
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("event_id", "endpoint", name="uq_webhook_deliveries_event_endpoint"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint", "status", "created_at"),
    )


class WebhookAttempt(db.Model):
    """One try of a delivery: when, the HTTP status (None: no answer), how long, what went wrong."""

    __tablename__ = "webhook_attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(32), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "number"),)
