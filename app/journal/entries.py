"""The journal's rows: the table, an entry as the callbacks fill it, and how one is stored,
corrected, stored again in place of another, or pruned."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    delete,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Prepared, UtcDateTime, db

_ID = BigInteger().with_variant(Integer(), "sqlite")


class JournalEntry(db.Model):
    __tablename__ = "journal"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))
    entry_id: Mapped[str | None] = mapped_column(String(32))  # ours, unique: what makes writes idempotent
    event: Mapped[str | None] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(256))
    application_key: Mapped[str | None] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512), nullable=False)
    content_type: Mapped[str | None] = mapped_column(String(256))
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    signature: Mapped[str] = mapped_column(String(32), nullable=False)
    status_code: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    reply: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    handling_ms: Mapped[float] = mapped_column(Float, nullable=False)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[dict | None] = mapped_column(JSON)  # rule, matched attributes, consent, keys
    upstream: Mapped[dict | None] = mapped_column(JSON)  # sidecar: the upstream's own reply and outcome
    # The body had sensitive input, redacted after its signature was verified on the bytes as sent
    redacted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # An imported DiCE or notify whose effect on the catalogue is not committed yet (replay clears it)
    replay_pending: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())

    __table_args__ = (
        Index("ix_journal_call_id", "call_id", "id"),
        Index("ix_journal_received_at", "received_at"),
        Index("ux_journal_entry_id", "entry_id", unique=True),
        # Partial: only the few rows still waiting for their replay are in it, so the row every
        # callback writes (not pending) touches one index fewer.
        Index("ix_journal_replay_pending", "replay_pending", sqlite_where=replay_pending.column.is_(True),
              postgresql_where=replay_pending.column.is_(True)),
    )


def ordered_id() -> str:
    """A new entry id: a UUIDv7 (RFC 9562, §5.7) as 32 hex digits — the Unix time in milliseconds,
    then 74 random bits. Ids made later sort later, so the journal's unique index on them grows at
    its right edge: each callback's insert touches the index page the previous one did, where a
    random id (UUIDv4) touched a page of its own anywhere in the index, to be read and written
    back (a WAL frame on SQLite) on every commit."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # variant: RFC 9562
    return f"{value:032x}"


@dataclass(slots=True)
class Entry:
    received_at: datetime
    request_id: str | None
    path: str
    content_type: str | None
    body: bytes
    signature: str
    status_code: int
    outcome: str
    handling_ms: float
    event: str | None = None
    call_id: str | None = None
    application_key: str | None = None
    reply: str | None = None          # as sent, but with credentials masked
    error: str | None = None
    rule_id: str | None = None
    decision: dict | None = None
    upstream: dict | None = None
    redacted: bool = False            # body, reply and upstream hold no sensitive input (redacted)
    # Made here, never taken from the request (a client can repeat an X-Request-Id): a write retried
    # or imported from the spool is recognised by it and stored once.
    entry_id: str = field(default_factory=ordered_id)


INSERT = insert(JournalEntry.__table__)
_COLUMNS = tuple(Entry.__slots__)
# The row every callback writes, on the hot path (stored exactly as INSERT would store it)
_journal_row = Prepared(lambda dialect: INSERT, (*_COLUMNS, "replay_pending"))


def write_rows(connection: Connection, entries: list[Entry]) -> None:
    _journal_row.execute(connection, [{**values(entry), "replay_pending": False} for entry in entries])


# Whatever arrives must be storable: text longer than its column (an unknown key of 300 characters,
# a Content-Type of 400) is cut to fit, so such a request is journaled, not spooled for ever.
_LIMITS = tuple((column.name, column.type.length) for column in JournalEntry.__table__.columns
                if isinstance(column.type, String) and column.type.length and column.name in Entry.__slots__)


def values(entry: Entry) -> dict:
    row = {name: getattr(entry, name) for name in _COLUMNS}  # asdict() deep-copies: too slow here
    for name, limit in _LIMITS:
        value = row[name]
        if value is not None and len(value) > limit:
            row[name] = value[:limit]
    return row


def store(entry: Entry, also: Callable[[Connection], None] | None = None, engine=None) -> Exception | None:
    """Store ``entry`` (and whatever ``also`` writes) in one short transaction.

    Returns the error when the database failed; then nothing of it was written — as far as we
    can tell: a commit can succeed on the server while the client sees an error, which
    :func:`store_again` finds out. ``engine`` is for a thread without the app context (the
    :class:`Writer`'s).
    """
    try:
        with (engine or db.engine).begin() as connection:
            write_rows(connection, [entry])
            if also is not None:
                also(connection)
        return None
    except Exception as error:  # the database is down or refused the rows: the caller decides
        return error


COMMITTED, STORED = "committed", "stored"

# Rows deleted per transaction by :func:`prune`: short enough that callbacks journaled meanwhile
# never wait long for the table.
PRUNE_BATCH = 2000


def prune(engine, before: datetime, *, dry_run: bool = False, batch: int = PRUNE_BATCH,
          progress: Callable[[int], None] = lambda deleted: None) -> int:
    """Delete the journal rows received before ``before``, oldest first, ``batch`` rows per
    transaction (``progress(n)`` after each); a row whose replay is still pending (imported from
    the spool, its effect on the catalogue not committed yet) is kept whatever its age. Returns
    how many were deleted (``dry_run``: how many would be, deleting nothing)."""
    table = JournalEntry.__table__
    due = (table.c.received_at < before) & (table.c.replay_pending == false())
    if dry_run:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(table).where(due)).scalar()
    deleted = 0
    while True:
        with engine.begin() as connection:
            ids = connection.execute(select(table.c.id).where(due).order_by(table.c.received_at)
                                   .limit(batch)).scalars().all()
            if ids:
                connection.execute(delete(table).where(table.c.id.in_(ids)))
        deleted += len(ids)
        if ids:
            progress(len(ids))
        if len(ids) < batch:
            return deleted


def store_again(entry_id: str, instead: Entry, engine=None) -> str | Exception:
    """After ``store`` failed: was entry ``entry_id`` committed after all (the COMMIT reached the
    server, its answer never came back)? Then :data:`COMMITTED`. Else ``instead`` (what is
    answered in its place, with the same id) goes in alone: :data:`STORED`, or the error when
    the database fails again. One connection for both."""
    try:
        with (engine or db.engine).begin() as connection:
            if stored_outcomes(connection, [entry_id]):
                return COMMITTED
            write_rows(connection, [instead])
        return STORED
    except Exception as error:  # the database is still down: the caller spools
        return error


def correct(connection: Connection, values: dict) -> None:
    """A row committed with one outcome while the request answered another (its write committed
    after the request stopped waiting, or its COMMIT's answer was lost and the database stayed
    away): make the row say what was answered (``values``: the entry as answered, same id)."""
    table = JournalEntry.__table__
    connection.execute(update(table).where(table.c.entry_id == values["entry_id"]).values(
        {name: values.get(name) for name in ("outcome", "reply", "error", "rule_id", "decision", "upstream",
                                             "status_code")}))

def stored_outcomes(connection: Connection, entry_ids: list[str]) -> dict[str, str]:
    """Of these entry ids, those already journaled, with their outcome: a write that failed on our
    side may have committed on the server's, and a claimed file may be imported twice."""
    table = JournalEntry.__table__
    stored = {}
    for start in range(0, len(entry_ids), 500):
        stored.update((entry_id, outcome) for entry_id, outcome in connection.execute(
            select(table.c.entry_id, table.c.outcome).where(table.c.entry_id.in_(entry_ids[start:start + 500]))))
    return stored
