"""The callback journal: every request to the callback URL, stored before it is answered.

A row holds what arrived (raw body, event, call id, application key, signature verdict) and
what we did with it (status, outcome, reply, error, handling time). The Authorization header
is never stored. When the database cannot take the row, the entry goes to a spool file under
the instance folder instead (one JSON line each), so nothing is lost while the database is
down. This module is persistence only: bringing a spool back (import, then replay) is
``app.callbacks.recovery``; ``flask journal`` is ``app.callbacks.commands``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from redis.exceptions import ResponseError
from sqlalchemy import JSON, BigInteger, Float, Index, Integer, LargeBinary, SmallInteger, String, Text, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UtcDateTime, db
from app.metrics import JOURNAL_FAILURES

log = logging.getLogger(__name__)

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

    __table_args__ = (
        Index("ix_journal_call_id", "call_id", "id"),
        Index("ix_journal_received_at", "received_at"),
        Index("ux_journal_entry_id", "entry_id", unique=True),
    )


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
    # Made here, never taken from the request (a client can repeat an X-Request-Id): a write retried
    # or imported from the spool is recognised by it and stored once.
    entry_id: str = field(default_factory=lambda: uuid.uuid4().hex)


_insert = insert(JournalEntry.__table__)
_COLUMNS = tuple(Entry.__slots__)


def _values(entry: Entry) -> dict:
    return {name: getattr(entry, name) for name in _COLUMNS}  # asdict() deep-copies: too slow here


def store(entry: Entry, also: Callable[[Connection], None] | None = None) -> Exception | None:
    """Store ``entry`` (and whatever ``also`` writes) in one short transaction.

    Returns the error when the database failed; then nothing of it was written — as far as we
    can tell: a commit can succeed on the server while the client sees an error, which
    :func:`store_again` finds out.
    """
    try:
        with db.engine.begin() as connection:
            connection.execute(_insert, _values(entry))
            if also is not None:
                also(connection)
        return None
    except Exception as error:  # the database is down or refused the rows: the caller decides
        return error


COMMITTED, STORED = "committed", "stored"


def store_again(entry: Entry, not_committed: Callable[[], None]) -> str | Exception:
    """After ``store`` failed: was it committed after all (the COMMIT reached the server, its
    answer never came back)? Then :data:`COMMITTED`. Else ``not_committed()`` changes the entry to
    what is answered instead, and the entry alone goes in: :data:`STORED`, or the error when the
    database fails again (``not_committed()`` has run either way). One connection for both."""
    changed = False
    try:
        with db.engine.begin() as connection:
            if _not_yet_journaled(connection, [{"entry_id": entry.entry_id}]) == []:
                return COMMITTED
            not_committed()
            changed = True
            connection.execute(_insert, _values(entry))
        return STORED
    except Exception as error:  # the database is still down: the caller spools
        if not changed:
            not_committed()
        return error


_spool_lock = threading.Lock()


class Spool:
    """Where journal entries wait while the database cannot take them.

    With Redis (``REDIS_URL``) they go to one list shared by every process and dyno, so a dyno
    restarted during an outage loses nothing and any live process can import them; without it,
    or when Redis fails too, to a file of this process (``journal-<pid>.jsonl``) under the
    instance folder. Every entry keeps its own id, so importing twice stores it once.
    """

    def __init__(self, folder: Path, redis=None, key: str = "sinch-recorder:journal-spool"):
        self.folder, self.redis, self.key = folder, redis, key

    def put(self, entry: Entry, error: Exception) -> None:
        """Keep ``entry`` because the database failed with ``error`` (logged, counted)."""
        JOURNAL_FAILURES.inc()
        log.error("journal write failed; the callback goes to the spool",
                  extra={"error": type(error).__name__, "call_id": entry.call_id})
        record = _values(entry)
        record["received_at"] = entry.received_at.astimezone(timezone.utc).isoformat()
        record["body"] = base64.b64encode(entry.body).decode()
        line = json.dumps(record, separators=(",", ":"))
        if self.redis is not None:
            try:
                self.redis.rpush(self.key, line)
                return
            except Exception as failure:  # Redis is down too: this process's file keeps it
                log.error("Redis refused the spooled callback too; it goes to this process's file",
                          extra={"error": type(failure).__name__, "call_id": entry.call_id})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with _spool_lock, open(self.folder / f"journal-{os.getpid()}.jsonl", "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError:
            log.critical("journal spool failed too; callback kept only in this log",
                         extra={"call_id": entry.call_id, "event": entry.event})

    def waiting(self) -> list[dict]:
        """Every entry waiting: in Redis, then in this folder's files, oldest file first."""
        lines = list(self._shared_lines())
        for path in sorted(self.folder.glob("journal-*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                lines.extend(line for line in handle if line.strip())
        return [json.loads(line) for line in lines]

    def _shared_lines(self):
        if self.redis is None:
            return []
        keys = [self.key, *self.redis.scan_iter(match=f"{self.key}:importing:*")]
        return [line.decode() for key in keys for line in self.redis.lrange(key, 0, -1)]

    def import_waiting(self, *, own_only: bool = False) -> tuple[int, datetime | None]:
        """Move waiting entries into the database: the shared ones (Redis) and this folder's
        files (``own_only``: just this process's). Returns how many were moved and when the
        oldest of them was received (where a replay must start)."""
        moved, oldest = 0, None
        for count, first in self._import_shared():
            moved, oldest = moved + count, _earliest(oldest, first)
        count, first = self._import_files(own_only)
        return moved + count, _earliest(oldest, first)

    def _import_shared(self):
        """Claim the Redis list (renamed, so new entries start a fresh one), import it, drop it;
        on failure the lines go back. Lists claimed by a process that died mid-import are
        imported too."""
        if self.redis is None:
            return
        claimed = f"{self.key}:importing:{uuid.uuid4().hex[:8]}"
        try:
            self.redis.rename(self.key, claimed)
        except ResponseError:  # no such key: nothing new was spooled
            pass
        for key in list(self.redis.scan_iter(match=f"{self.key}:importing:*")):
            lines = [line.decode() for line in self.redis.lrange(key, 0, -1)]
            try:
                yield _insert_new([_row(json.loads(line)) for line in lines])
            except Exception:
                if lines:
                    self.redis.rpush(self.key, *lines)
                self.redis.delete(key)
                raise
            self.redis.delete(key)

    def _import_files(self, own_only: bool) -> tuple[int, datetime | None]:
        """Each file is claimed first (renamed under the spool lock), so lines spooled meanwhile
        go to a fresh file instead of being lost; if the database fails, it goes back."""
        moved, oldest = 0, None
        pattern = f"journal-{os.getpid()}[.-]*jsonl" if own_only else "journal-*.jsonl"
        for path in sorted(self.folder.glob(pattern)):
            claimed = path.with_name(f"{path.name}.importing-{uuid.uuid4().hex[:8]}")
            with _spool_lock:
                try:
                    path.replace(claimed)
                except FileNotFoundError:
                    continue
            try:
                with open(claimed, encoding="utf-8") as handle:
                    count, first = _insert_new([_row(json.loads(line)) for line in handle if line.strip()])
            except Exception:
                claimed.replace(self.folder / f"journal-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl")  # back, untouched
                raise
            claimed.unlink()
            moved, oldest = moved + count, _earliest(oldest, first)
        return moved, oldest

    def hand_off(self) -> int:
        """Before this process exits: its file's entries into the database, else into Redis.
        Returns how many left the file."""
        try:
            return self._import_files(own_only=True)[0]
        except Exception as error:
            if self.redis is None:
                log.error("the spool stays on this disk: the database is still down and there is no Redis",
                          extra={"error": type(error).__name__})
                return 0
        lines, paths = [], sorted(self.folder.glob(f"journal-{os.getpid()}[.-]*jsonl"))
        for path in paths:
            lines.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        if lines:
            self.redis.rpush(self.key, *lines)
        for path in paths:
            path.unlink()
        return len(lines)


def _insert_new(rows: list[dict]) -> tuple[int, datetime | None]:
    """Insert the rows not in the journal yet (by entry id); how many, and the oldest's time."""
    if not rows:
        return 0, None
    with db.engine.begin() as connection:
        rows = _not_yet_journaled(connection, rows)
        if rows:
            connection.execute(_insert, rows)
    return len(rows), min((row["received_at"] for row in rows), default=None)


def _earliest(one: datetime | None, other: datetime | None) -> datetime | None:
    return min(filter(None, (one, other)), default=None)


def _not_yet_journaled(connection: Connection, rows: list[dict]) -> list[dict]:
    """Drop rows already in the journal (same entry id): a write that failed on our side may
    have committed on the server's, and a claimed file may be imported twice after a failure."""
    table = JournalEntry.__table__
    ids = [row["entry_id"] for row in rows if row.get("entry_id")]
    known = set()
    for start in range(0, len(ids), 500):
        known.update(connection.execute(select(table.c.entry_id).where(
            table.c.entry_id.in_(ids[start:start + 500]))).scalars())
    return [row for row in rows if not row.get("entry_id") or row["entry_id"] not in known]


def _row(record: dict) -> dict:
    record["received_at"] = datetime.fromisoformat(record["received_at"])
    record["body"] = base64.b64decode(record["body"])
    return record
