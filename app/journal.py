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
import time
import uuid
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from redis.exceptions import ResponseError
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
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, StatementError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Prepared, UtcDateTime, db
from app.metrics import JOURNAL_FAILURES, JOURNAL_QUARANTINED

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


_insert = insert(JournalEntry.__table__)
_COLUMNS = tuple(Entry.__slots__)
# The row every callback writes, on the hot path (stored exactly as _insert would store it)
_journal_row = Prepared(lambda dialect: _insert, (*_COLUMNS, "replay_pending"))


def _write_rows(connection: Connection, entries: list[Entry]) -> None:
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
            _write_rows(connection, [entry])
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
            if _stored_outcomes(connection, [entry_id]):
                return COMMITTED
            _write_rows(connection, [instead])
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


class Late(Exception):
    """The database did not answer within ``JOURNAL_BUDGET_MS``. ``work`` is the write still
    running (it may yet commit), or None when it never started."""

    def __init__(self, work: Future | None):
        super().__init__("the database did not answer within JOURNAL_BUDGET_MS")
        self.work = work


_deadline: ContextVar[float | None] = ContextVar("journal_deadline", default=None)


class _Queue:
    """What a :class:`Writer` and its group-commit thread share: the writes waiting, when the
    thread is woken for them, how many request threads can write at once (``full``: a group that
    has them all cannot grow), how long the thread may wait for company (``group_wait``, seconds),
    how far apart writes have come lately (``apart``, seconds) and how often lately a group had
    more than one (``together``, 0 to 1)."""

    __slots__ = ("wake", "waiting", "full", "group_wait", "longest", "last", "apart", "together")

    def __init__(self, full: int, group_wait: float):
        self.wake = threading.Condition()
        self.waiting: deque[_Write | None] = deque()
        self.full, self.group_wait = full, group_wait
        # A pause longer than this counts as this long: after a quiet hour the average is back
        # under the threshold (:func:`gathering`) after a handful of writes, not thousands.
        self.longest = 2 * CLOSE * group_wait
        self.last, self.apart = 0.0, self.longest
        self.together = 0.0

    def grouped(self, size: int) -> None:
        """Count a group into the moving average of how often writes come together."""
        self.together += ((size > 1) - self.together) / 8

    def arrived(self, now: float) -> None:
        """Count a write's arrival into the moving average of how far apart writes come."""
        self.apart += (min(now - self.last, self.longest) - self.apart) / 8
        self.last = now


class Writer:
    """Database work for a callback under one time budget, so that a database that hangs (rather
    than refusing) costs a call ``JOURNAL_BUDGET_MS``, not the call. The request waits for the
    work at most until its deadline (:meth:`begin`), then raises :class:`Late`; the work goes on
    and may yet commit. A budget of 0 runs the work inline, without a deadline.

    Journal writes (:meth:`write`) go through group commit: one thread per process takes the
    writes of every request thread waiting at that moment and commits them in one transaction
    (one ``executemany`` for the journal rows), and each request waits for its own commit: the
    reply still never goes out before its rows are committed. While callbacks come close together
    (:func:`gathering`), the thread first waits up to ``group_wait_ms`` for more to join, until
    every request thread's write is in (``request_threads``): SQLite's work per transaction (its
    locks, the pages it reads again after another process wrote, the WAL frames it appends) is
    then paid once for all of them. Callbacks that come seldom, or one after another, are
    committed at once. Reads (:meth:`run`) go to a small pool of threads.
    """

    def __init__(self, budget_ms: int, threads: int = 4, group_wait_ms: float = 0, request_threads: int = 4):
        self.budget = budget_ms / 1000.0
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="journal") if budget_ms else None
        self._queue = _Queue(max(1, min(request_threads, GROUP_LIMIT)), group_wait_ms / 1000.0)
        self._thread: threading.Thread | None = None
        self._pid = 0

    def begin(self) -> None:
        """Start this request's budget (every :meth:`run` in it shares the one deadline)."""
        _deadline.set(time.monotonic() + self.budget)

    def run(self, work: Callable, *args):
        if self.pool is None:
            return work(*args)
        return self._wait(self.pool.submit(work, *args))

    def write(self, entry: Entry, also: Callable[[Connection], None] | None, then: Callable[[Exception | None], T],
              engine) -> T:
        """Store ``entry`` (and what ``also`` writes) in the next group commit; ``then(failure)``
        (None when it committed) runs in the writer's thread and its result is returned."""
        if self.pool is None:
            return then(store(entry, also, engine))
        write, queue = _Write(entry, also, then, engine, Future()), self._queue
        with queue.wake:
            if self._thread is None or self._pid != os.getpid():  # none yet, or one of the parent's (a fork)
                # The thread holds the queue, not the writer: when the writer goes (an app built
                # and dropped, in tests), the thread is told to end, and nothing keeps the app's
                # engine and its connections alive.
                self._thread = threading.Thread(target=_commit_groups, args=(queue,),
                                                name="journal-group", daemon=True)
                self._pid = os.getpid()
                self._thread.start()
                weakref.finalize(self, _stop, queue)
            queue.waiting.append(write)
            queue.arrived(time.monotonic())
            # Wake the thread when it may be idle (the first write) or when the group is full; the
            # writes in between join the group it is gathering.
            if len(queue.waiting) == 1 or len(queue.waiting) >= queue.full:
                queue.wake.notify()
        return self._wait(write.future)

    def _wait(self, future: Future):
        deadline = _deadline.get()
        left = self.budget if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            return future.result(timeout=left)
        except FutureTimeout:
            raise Late(None if future.cancel() else future) from None


def _commit_groups(queue: _Queue) -> None:
    """The group-commit thread: each turn, everything waiting (up to ``GROUP_LIMIT``) in one
    transaction per engine, on a connection it keeps between groups (:class:`_Held`); ends at the
    ``None`` its writer's finalizer queues. While callbacks come close together it first waits
    for more (:func:`gathering`)."""
    held, wake, waiting, group_wait = _Held(), queue.wake, queue.waiting, queue.group_wait
    try:
        while True:
            with wake:
                while not waiting:
                    wake.wait()
                if gathering(queue.apart, queue.together, len(waiting), queue.full, group_wait):
                    until = time.monotonic() + group_wait
                    while len(waiting) < queue.full and (left := until - time.monotonic()) > 0:
                        wake.wait(left)
                group = [waiting.popleft() for _ in range(min(len(waiting), GROUP_LIMIT))]
                queue.grouped(len(group))
            stop = None in group
            _commit_group([write for write in group  # those not given up on
                           if write is not None and write.future.set_running_or_notify_cancel()], held)
            del group  # nothing of a done group (its writer, its app) may stay alive while this waits
            if stop:
                return
    finally:
        held.close()


class _Held:
    """The group-commit thread's own connection per engine, kept between groups: no pool
    checkout, return and (on PostgreSQL) ping per transaction. Given up after any failure (the
    group's writes are then retried one by one through the pool, which pings), and when the
    engine's pool was replaced (``engine.dispose()``: the database may be another now)."""

    def __init__(self):
        self.connections: dict[int, tuple[Any, Any, Connection]] = {}

    def get(self, engine) -> Connection | None:
        found = self.connections.get(id(engine))
        if found is not None and found[1] is engine.pool and not found[2].invalidated:
            return found[2]
        self.drop(engine)
        try:
            connection = engine.connect()
        except Exception:  # the database is away: the pool's own tries will say so
            return None
        self.connections[id(engine)] = (engine, engine.pool, connection)
        return connection

    def drop(self, engine) -> None:
        found = self.connections.pop(id(engine), None)
        if found is not None:
            try:
                found[2].close()
            except Exception:  # a connection already lost: nothing to give back
                pass

    def close(self) -> None:
        for engine, _, _ in list(self.connections.values()):
            self.drop(engine)


def _commit_group(group: list[_Write], held: _Held) -> None:
    try:
        for engine, writes in _by_engine(group):
            connection = held.get(engine)
            failures = store_group([(w.entry, w.also) for w in writes], engine, connection)
            if connection is not None and (any(failures) or connection.invalidated):
                held.drop(engine)
            for write, failure in zip(writes, failures):
                try:
                    write.future.set_result(write.then(failure))
                except Exception as error:  # then() failed: the request sees it as the work's
                    write.future.set_exception(error)
    except Exception as error:  # a bug of ours: its requests see it, and the thread goes on
        log.exception("group commit failed")
        for write in group:
            if not write.future.done():
                write.future.set_exception(error)


def gathering(apart: float, together: float, waiting: int, full: int, group_wait: float) -> bool:
    """Should the group-commit thread wait (up to ``group_wait`` seconds) for more writes before
    it commits the ``waiting`` ones? Only when the group is not full (every request thread's
    write in), writes have lately come less than :data:`CLOSE` waits ``apart``, and groups of
    more than one have lately been common (``together`` above :data:`TOGETHER`), so that one is
    likely to join. A callback that comes alone is not kept waiting for company, nor are the
    callbacks of a client that sends one after another, however fast: they never overlap."""
    return group_wait > 0 and waiting < full and apart < CLOSE * group_wait and together > TOGETHER


def _stop(queue: _Queue) -> None:
    with queue.wake:
        queue.waiting.append(None)
        queue.wake.notify()


T = TypeVar("T")
# At most this many callbacks in one group commit (a process serves a few dozen threads at most).
GROUP_LIMIT = 64
# Writes that come on average less than this many group waits apart are close enough together for
# the group commit to wait for the next (:func:`gathering`).
CLOSE = 4
# ... and where more than this share of recent groups held several writes (without waiting, about
# half of them do under the benchmark's load; none do for a client that sends one at a time).
TOGETHER = 0.1


@dataclass(slots=True, eq=False)
class _Write:
    entry: Entry
    also: Callable[[Connection], None] | None
    then: Callable[[Exception | None], Any]
    engine: Any
    future: Future


def _by_engine(group: list[_Write]):
    engines: dict[int, list[_Write]] = {}
    for write in group:
        engines.setdefault(id(write.engine), []).append(write)
    return [(writes[0].engine, writes) for writes in engines.values()]


def store_group(writes: list[tuple[Entry, Callable[[Connection], None] | None]], engine,
                connection: Connection | None = None) -> list[Exception | None]:
    """Store several entries (each with what its ``also`` writes) in one transaction, on
    ``connection`` when given (else one from the pool); returns each one's failure, as
    :func:`store` does. When the group fails, each is tried again alone through the pool, so one
    that cannot be stored fails alone (and a group whose COMMIT's answer was lost shows as each
    entry's failure, which :func:`store_again` sees through)."""
    if connection is None and len(writes) == 1:
        return [store(*writes[0], engine)]
    try:
        with (engine.begin() if connection is None else _begun(connection)) as transaction:
            _write_rows(transaction, [entry for entry, _ in writes])
            for _, also in writes:
                if also is not None:
                    also(transaction)
        return [None] * len(writes)
    except Exception:  # one by one: the database is down (each fails fast), or one entry is bad
        return [store(entry, also, engine) for entry, also in writes]


@contextmanager
def _begun(connection: Connection):
    """A transaction on a connection kept open: committed at the end, rolled back on an error."""
    with connection.begin():
        yield connection


_spool_lock = threading.Lock()
# How long a claim on a shared spool list holds while its importer works. An import takes one
# transaction; past this its importer is taken for dead and another process imports the list
# (harmless even if it was not: each entry keeps its id, so one stored twice is stored once).
LEASE_SECONDS = 60
# What to do, inside the import's transaction, with a spooled entry whose id was stored with
# another outcome (the callbacks room withdraws the decision the call never got).
Settle = Callable[[Connection, dict], None]


class Spool:
    """Where journal entries wait while the database cannot take them.

    With Redis (``REDIS_URL``) they go to one list shared by every process and dyno, so a dyno
    restarted during an outage loses nothing and any live process can import them; without it,
    or when Redis fails too, to a file of this process (``journal-<pid>.jsonl``) under the
    instance folder. Every entry keeps its own id, so importing twice stores it once.
    """

    def __init__(self, folder: Path, redis=None, key: str = "sinch-recorder:journal-spool",
                 settle: Settle | None = None):
        self.folder, self.redis, self.key, self.settle = folder, redis, key, settle

    def put(self, entry: Entry, error: Exception) -> None:
        """Keep ``entry`` because the database failed with ``error`` (logged, counted)."""
        JOURNAL_FAILURES.inc()
        log.error("journal write failed; the callback goes to the spool",
                  extra={"error": type(error).__name__, "call_id": entry.call_id})
        record = values(entry)
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
        on failure the lines go back. A claim carries a lease (``LEASE_SECONDS``): a list claimed
        by a live importer is left to it, and one whose claimer died mid-import (its lease ran
        out) is claimed anew and imported here. Two processes never import one list at once."""
        if self.redis is None:
            return
        mine = [self._claim(self.key)]
        for key in list(self.redis.scan_iter(match=f"{self.key}:importing:*")):
            token = key.decode().rsplit(":", 1)[-1]
            if not self.redis.exists(f"{self.key}:lease:{token}"):  # its claimer is gone
                mine.append(self._claim(key))
        for claimed, lease in filter(None, mine):
            lines = [line.decode() for line in self.redis.lrange(claimed, 0, -1)]
            try:
                yield self._import_lines(lines)
            except Exception:
                if lines:
                    self.redis.rpush(self.key, *lines)
                self.redis.delete(claimed, lease)
                raise
            self.redis.delete(claimed, lease)

    def _claim(self, key) -> tuple[str, str] | None:
        """Rename ``key`` to a list of this importer's own, under a lease taken first (so the list
        is never seen without one). None when another importer renamed it first."""
        token = uuid.uuid4().hex[:12]
        claimed, lease = f"{self.key}:importing:{token}", f"{self.key}:lease:{token}"
        self.redis.set(lease, os.getpid(), ex=LEASE_SECONDS)
        try:
            self.redis.rename(key, claimed)
        except ResponseError:  # no such key: nothing spooled, or another importer was first
            self.redis.delete(lease)
            return None
        return claimed, lease

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
                    count, first = self._import_lines([line for line in handle if line.strip()])
            except Exception:
                claimed.replace(self.folder / f"journal-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl")  # back, untouched
                raise
            claimed.unlink()
            moved, oldest = moved + count, _earliest(oldest, first)
        return moved, oldest

    def _import_lines(self, lines: list[str]) -> tuple[int, datetime | None]:
        """Import spooled lines. The database failing takes them all back (raise); a line that can
        never be imported (unreadable, or refused by the database for what it holds) is set aside
        with the reason (:meth:`quarantine`) so the lines after it still come in."""
        rows = []
        for line in lines:
            try:
                rows.append(_row(json.loads(line)))
            except (ValueError, KeyError, TypeError) as error:
                self.quarantine(line, f"unreadable: {type(error).__name__}: {error}"[:300])
        try:
            return _insert_new(rows, self.settle)
        except DBAPIError as error:
            if _database_away(error):
                raise
        except StatementError:  # a value the driver cannot send: found row by row below
            pass
        moved, oldest = 0, None
        for row in rows:  # one by one, so one bad row does not hold the others back
            try:
                count, first = _insert_new([row], self.settle)
            except (DBAPIError, StatementError) as error:
                if isinstance(error, DBAPIError) and _database_away(error):
                    raise
                self.quarantine(_line(row), f"refused by the database: {type(error.orig).__name__}"
                                if getattr(error, "orig", None) is not None else type(error).__name__)
                continue
            moved, oldest = moved + count, _earliest(oldest, first)
        return moved, oldest

    def quarantine(self, line: str, reason: str) -> None:
        """Set a spooled line aside for good, with why (Redis ``<key>:quarantine``, else
        ``quarantine.jsonl`` here); ``flask journal spool`` and ``/readyz`` count them."""
        JOURNAL_QUARANTINED.inc()
        log.error("a spooled callback cannot be imported; quarantined", extra={"reason": reason})
        record = json.dumps({"at": datetime.now(timezone.utc).isoformat(), "reason": reason, "line": line.strip()})
        if self.redis is not None:
            try:
                self.redis.rpush(f"{self.key}:quarantine", record)
                return
            except Exception:
                pass
        self.folder.mkdir(parents=True, exist_ok=True)
        with _spool_lock, open(self.folder / "quarantine.jsonl", "a", encoding="utf-8") as handle:
            handle.write(record + "\n")

    def quarantined(self) -> int:
        count = self.redis.llen(f"{self.key}:quarantine") if self.redis is not None else 0
        path = self.folder / "quarantine.jsonl"
        if path.exists():
            with open(path, encoding="utf-8") as handle:
                count += sum(1 for line in handle if line.strip())
        return count

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


def _insert_new(rows: list[dict], settle: Settle | None = None) -> tuple[int, datetime | None]:
    """Insert the rows not in the journal yet (by entry id); how many, and the oldest's time.
    A row already stored with another outcome (its COMMIT went through unseen, but the request
    answered otherwise) is handed to ``settle`` in the same transaction."""
    if not rows:
        return 0, None
    with db.engine.begin() as connection:
        stored = _stored_outcomes(connection, [row["entry_id"] for row in rows if row.get("entry_id")])
        new = [row for row in rows if row.get("entry_id") not in stored]
        if settle is not None:
            for row in rows:
                if row.get("entry_id") in stored and stored[row["entry_id"]] != row["outcome"]:
                    settle(connection, row)
        if new:
            connection.execute(_insert, new)
    return len(new), min((row["received_at"] for row in new), default=None)


def _database_away(error: DBAPIError) -> bool:
    """Down, unreachable or cut mid-way (try again later), as opposed to refusing what a row holds."""
    return isinstance(error, (OperationalError, InterfaceError)) or error.connection_invalidated


def _line(row: dict) -> str:
    record = {**row, "received_at": row["received_at"].isoformat(), "body": base64.b64encode(row["body"]).decode()}
    record.pop("replay_pending", None)
    return json.dumps(record, default=str)


def _earliest(one: datetime | None, other: datetime | None) -> datetime | None:
    return min(filter(None, (one, other)), default=None)


def _stored_outcomes(connection: Connection, entry_ids: list[str]) -> dict[str, str]:
    """Of these entry ids, those already journaled, with their outcome: a write that failed on our
    side may have committed on the server's, and a claimed file may be imported twice."""
    table = JournalEntry.__table__
    stored = {}
    for start in range(0, len(entry_ids), 500):
        stored.update((entry_id, outcome) for entry_id, outcome in connection.execute(
            select(table.c.entry_id, table.c.outcome).where(table.c.entry_id.in_(entry_ids[start:start + 500]))))
    return stored


def _row(record: dict) -> dict:
    """A spooled line as a journal row; a DiCE or notify among them waits for its replay."""
    record["received_at"] = datetime.fromisoformat(record["received_at"])
    record["body"] = base64.b64decode(record["body"])
    record["replay_pending"] = record.get("event") in REPLAYED
    return record


REPLAYED = ("dice", "notify")  # what a replay re-drives: the events whose effect is on the catalogue
