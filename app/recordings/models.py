"""Catalogue tables: one row per call (decision, consent, end) and one per recording segment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UtcDateTime, db


class Call(db.Model):
    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    application_key: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    ruleset_hash: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[dict | None] = mapped_column(JSON)        # rule, matched attributes, keys
    facts: Mapped[dict | None] = mapped_column(JSON)           # the ICE attributes rules match on
    consent: Mapped[str] = mapped_column(String(16), nullable=False, default="not_asked")
    consent_evidence: Mapped[dict | None] = mapped_column(JSON)
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(64))
    end_result: Mapped[str | None] = mapped_column(String(32))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[dict | None] = mapped_column(JSON)           # the last callingerror notify
    resource_url: Mapped[str | None] = mapped_column(String(512))  # ICE callResourceUrl: for Manage Call
    controls: Mapped[list | None] = mapped_column(JSON)        # start/stop/pause/resume: who, why, when
    conference_id: Mapped[str | None] = mapped_column(String(64))  # the room it was connected to
    # Sensitive input: menu ids opened as sensitive, the upstream's recording options (sealed), the
    # pause in progress (app.callbacks.sensitive)
    sensitive: Mapped[dict | None] = mapped_column(JSON)

    # No index on started_at: nothing reads calls by when they started, and every ICE would
    # write it. Partial: a call outside any room (most) touches one index fewer on ICE; a
    # lookup by room (conference_id = …) still uses it.
    __table_args__ = (Index("ix_calls_conference_id", "conference_id", "ended_at",
                            sqlite_where=conference_id.column.isnot(None),
                            postgresql_where=conference_id.column.isnot(None)),)


# The rows of the one-open-recording-per-room constraint (``ux_recordings_room_open``).
ROOM_OPEN = text("conference_id IS NOT NULL AND status = 'requested' AND expected_by IS NULL")


class Recording(db.Model):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(256), nullable=False)
    conference_id: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    ruleset_hash: Mapped[str | None] = mapped_column(String(64))  # the ruleset that decided it
    destination: Mapped[str | None] = mapped_column(String(64))   # the ruleset's destination name
    destination_url: Mapped[str] = mapped_column(String(1024), nullable=False, unique=True)
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    mode: Mapped[str | None] = mapped_column(String(16))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    available_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    pending_reason: Mapped[str | None] = mapped_column(Text)  # not final yet: the last problem a retry met
    transcription_url: Mapped[str | None] = mapped_column(String(1024))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    expected_by: Mapped[datetime | None] = mapped_column(UtcDateTime)  # sweeper deadline
    verify_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    checks: Mapped[dict | None] = mapped_column(JSON)  # what verification compared, for the record
    retain_until: Mapped[datetime | None] = mapped_column(UtcDateTime)  # from the rule's retain_days
    legal_hold: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deletion: Mapped[dict | None] = mapped_column(JSON)  # the receipt: when, by whom, why, SHA-256
    copied_from: Mapped[str | None] = mapped_column(String(32))  # lineage: the recording this copies

    __table_args__ = (
        Index("ix_recordings_call_id", "call_id", "segment"),
        Index("ix_recordings_status", "status", "requested_at"),
        Index("ix_recordings_rule_id", "rule_id", "requested_at"),
        Index("ix_recordings_requested_at", "requested_at", "id"),
        Index("ix_recordings_expected_by", "status", "expected_by"),
        Index("ix_recordings_retain_until", "retain_until"),
        Index("ix_recordings_copied_from", "copied_from"),
        Index("ix_recordings_conference_id", "conference_id", "status"),
        # A room has one open recording, whatever the race: two first participants deciding at
        # once both ask Sinch to record it, and only the first row is written (the second one's
        # file, if Sinch writes one, is catalogued when it is announced). Open: asked for, and
        # the room not left yet (leaving sets expected_by), so a later session records anew.
        Index("ux_recordings_room_open", "conference_id", unique=True,
              sqlite_where=ROOM_OPEN, postgresql_where=ROOM_OPEN),
    )


class CopyJob(db.Model):
    """One ``POST /recordings/<id>/copy``: where to, how far along, and how it ended.

    Explicit credentials are not here (nor anywhere): such a job runs in the web process that
    received them (``runner`` = ``web``); a copy to a destination profile runs in the worker.
    """

    __tablename__ = "copy_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(32), nullable=False)
    target_url: Mapped[str] = mapped_column(String(1024), nullable=False)
    destination: Mapped[str | None] = mapped_column(String(64))   # the profile, when one was named
    runner: Mapped[str] = mapped_column(String(8), nullable=False)  # worker | web
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # queued | running | succeeded | failed
    method: Mapped[str | None] = mapped_column(String(16))          # server_side | streamed
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    bytes_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    copy_id: Mapped[str | None] = mapped_column(String(32))         # the catalogued copy
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_copy_jobs_recording_id", "recording_id", "created_at"),
                      Index("ix_copy_jobs_status", "status", "updated_at"))
