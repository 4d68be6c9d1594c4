"""The journal's writer: one group-commit thread per process and engine, so callbacks that
come together share one database commit, each waiting for its own within ``JOURNAL_BUDGET_MS``."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from sqlalchemy.engine import Connection

from app.journal.entries import Entry, store, write_rows

log = logging.getLogger(__name__)


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
            write_rows(transaction, [entry for entry, _ in writes])
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
