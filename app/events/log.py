"""The event log: one append-only row per change of the catalogue, and the order readers see.

:func:`append` is called by the catalogue's writers inside the transaction of the change they
describe (a transactional outbox): the change and its event commit together or not at all.

Rows are given their place in the feed, ``seq``, only after they committed (:func:`sequence`).
Transactions commit out of the order they began in, so an order given at insert time (an
autoincrement id, a timestamp) would let a reader that paged past id 12 miss id 11 committing a
moment later. The sequencer numbers only what is committed, one sequencer at a time (it first
updates the one ``event_sequence`` row: a row lock on PostgreSQL, the write lock on SQLite), so
numbers are given in increasing order to visible rows only, and a reader that has seen ``seq`` N
will never be shown a new row below N. Each event is numbered once; ``on_sequenced`` runs in
the same transaction (the webhook fan-out), so every event gets its deliveries exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from app.db import Prepared
from app.events.models import Event, EventSequence
from app.events.types import TYPES

_events, _sequence = Event.__table__, EventSequence.__table__

SEQUENCE = "events"
# Compiled once: an ICE that records writes one (app.db.Prepared).
_event_row = Prepared(lambda dialect: insert(_events), ("id", "type", "recording_id", "call_id", "created_at", "data"))
BATCH = 500


def new_id() -> str:
    return "evt_" + uuid.uuid4().hex


def rfc3339(moment: datetime) -> str:
    """``2026-12-04T06:50:00.123456Z``: RFC 3339 in UTC."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def append(connection: Connection, type_: str, data: dict, *, recording_id: str | None = None,
           call_id: str | None = None, now: datetime | None = None) -> str:
    """Write one event in the caller's transaction; its id."""
    if type_ not in TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    event_id = new_id()
    _event_row.execute(connection, [{"id": event_id, "type": type_, "recording_id": recording_id, "call_id": call_id,
                                     "created_at": now or datetime.now(timezone.utc), "data": data}])
    return event_id


def as_json(row) -> dict:
    """An event as the feed and the webhooks give it: ``{"id", "type", "timestamp", "data"}``."""
    return {"id": row["id"], "type": row["type"], "timestamp": rfc3339(row["created_at"]), "data": row["data"]}


def position(connection: Connection, name: str) -> int:
    """``last`` of the ``event_sequence`` row ``name`` (``events``: the last ``seq`` given;
    ``evidence``: the transparency log's size; ``evidence_copies``: the last head written)."""
    last = connection.execute(select(_sequence.c.last).where(_sequence.c.name == name)).scalar()
    if last is None:  # the migrations insert each row: without it the database is not migrated
        raise RuntimeError(f"the event_sequence row {name!r} is missing: run flask --app wsgi db upgrade")
    return last


def hold(connection: Connection, name: str) -> int:
    """Take the ``event_sequence`` row ``name`` for the rest of the caller's transaction and return
    its ``last``: the row is written first (a row lock on PostgreSQL, the write lock on SQLite), so
    no other holder of it passes until this transaction ends, and ``last`` is read after the lock."""
    connection.execute(update(_sequence).where(_sequence.c.name == name).values(last=_sequence.c.last))
    return position(connection, name)


def advance(connection: Connection, name: str, last: int) -> None:
    """Set the ``last`` of a row the caller holds (:func:`hold`)."""
    connection.execute(update(_sequence).where(_sequence.c.name == name).values(last=last))


def sequence(engine: Engine, on_sequenced: Callable[[Connection, list], None] | None = None) -> int:
    """Number every committed event that has no ``seq`` yet, oldest first; how many were numbered.
    ``on_sequenced(connection, rows)`` runs with each batch, in its transaction."""
    total = 0
    with engine.connect() as connection:  # idle (nothing to number): no write, no lock taken
        if connection.execute(select(_events.c.id).where(_events.c.seq.is_(None)).limit(1)).first() is None:
            return total
    while True:
        with engine.begin() as connection:
            last = hold(connection, SEQUENCE)  # no other sequencer passes until this commits
            rows = connection.execute(select(_events).where(_events.c.seq.is_(None))
                                      .order_by(_events.c.created_at, _events.c.id).limit(BATCH)).mappings().all()
            if not rows:
                return total
            numbered = [{**row, "seq": last + i} for i, row in enumerate(rows, 1)]
            connection.execute(update(_events).where(_events.c.id == bindparam("event_id"))
                               .values(seq=bindparam("number")),
                               [{"event_id": row["id"], "number": row["seq"]} for row in numbered])
            advance(connection, SEQUENCE, last + len(rows))
            if on_sequenced is not None:
                on_sequenced(connection, numbered)
            total += len(rows)
            if len(rows) < BATCH:
                return total


def one(connection: Connection, event_id: str):
    """An event's row, or None."""
    return connection.execute(select(_events).where(_events.c.id == event_id)).mappings().first()
