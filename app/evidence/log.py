"""The transparency log in the database: the appender, and the hashes proofs and roots are made of.

Leaves are the events in the order the sequencer numbered them (the feed's ``seq``), each as
its canonical JSON: the event exactly as the feed and the webhooks give it, ``{"id", "type",
"timestamp", "data"}``, serialised by RFC 8785 (JCS), so anyone re-serialising it gets the same
bytes. The bytes are kept as they were hashed (``evidence_leaves.entry``).

One appender at a time, across every process: it first updates the log's row of
``event_sequence`` (``name = 'evidence'``, ``last`` = the tree's size), a row lock on PostgreSQL
and the write lock on SQLite, as the event sequencer does with its own row. It runs in the
worker, never on the callback path. Each perfect subtree's hash is stored once, when its last
leaf arrives (:func:`app.evidence.merkle.node_id` is its key): about two rows a leaf, and any
root or proof is O(log n) of them, read in one query.
"""

from __future__ import annotations

import json

import rfc8785
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine

from app.events import log as event_log
from app.events.models import Event
from app.evidence import merkle
from app.evidence.models import EvidenceLeaf, EvidenceNode

_events = Event.__table__
_leaves, _nodes = EvidenceLeaf.__table__, EvidenceNode.__table__
NAME = "evidence"
BATCH = 5000
SAFE = 2**53 - 1  # the integers RFC 8785 writes exactly (IEEE 754 doubles)
MAX_ENTRIES = 1000  # a call of /api/v1/evidence/entries


def canonical(value) -> bytes:
    """The RFC 8785 (JCS) bytes of a JSON value.

    Where the standard library's ``json.dumps`` (sorted keys, no spaces, no ASCII escaping) gives
    exactly those bytes it is used, five times faster: every key ASCII (so code-point order is
    UTF-16 order) and no number but integers within 2**53 (no float, whose form differs). Its
    strings escape as JCS's do (quote, backslash, the five short forms, other controls as a
    lowercase u00xx). Anything else goes to the ``rfc8785`` package; a property test holds the
    two equal."""
    if _plain(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return rfc8785.dumps(value)


def _plain(value) -> bool:
    """No float, no integer past 2**53, every key ASCII: a walk without recursion (it is most of
    the cost of an entry otherwise)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if not -SAFE <= item <= SAFE:
                return False
        elif kind is dict:
            if not all(type(key) is str and key.isascii() for key in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return False
    return True


def entry_of(row) -> bytes:
    """An event row's leaf: the RFC 8785 bytes of the event as the feed gives it."""
    return canonical(event_log.as_json(row))


def size(connection: Connection) -> int:
    """How many leaves the tree has."""
    return event_log.position(connection, NAME)


def last_seq(connection: Connection) -> int:
    """The ``seq`` of the last event appended (0: none)."""
    return connection.execute(select(func.max(_leaves.c.seq))).scalar() or 0


def waiting(connection: Connection) -> int:
    """How many numbered events are not in the tree yet."""
    return connection.execute(select(func.count()).select_from(_events).where(
        _events.c.seq > last_seq(connection))).scalar()


def append(engine: Engine, batch: int = BATCH) -> int:
    """Append every numbered event not in the tree yet, in ``seq`` order; how many were appended."""
    total = 0
    while True:
        with engine.begin() as connection:
            start = event_log.hold(connection, NAME)  # the size, after the lock: another appender may have grown it
            after = last_seq(connection)
            rows = connection.execute(select(_events).where(_events.c.seq > after)
                                      .order_by(_events.c.seq).limit(batch)).mappings().all()
            if not rows:
                return total
            edge = merkle.perfect(0, start) if start else []
            frontier = [(begin, level, digest) for (begin, level), digest in zip(edge, _hashes(connection, edge))]
            leaves, nodes = [], []
            for index, row in enumerate(rows, start):
                entry = entry_of(row)
                leaves.append({"leaf_index": index, "event_id": row["id"], "seq": row["seq"], "entry": entry,
                               "type": row["type"], "recording_id": row["recording_id"], "call_id": row["call_id"]})
                nodes += [{"id": node, "hash": digest}
                          for node, digest in merkle.push(frontier, index, merkle.leaf_hash(entry))]
            _insert(connection, _leaves, leaves)
            _insert(connection, _nodes, nodes)
            event_log.advance(connection, NAME, start + len(rows))
            total += len(rows)
            if len(rows) < batch:
                return total


def _insert(connection: Connection, table, rows: list[dict]) -> None:
    """Many rows into a table of plain columns, in the connection's transaction: PostgreSQL's COPY
    there (psycopg's executemany sends one INSERT a row: 5 times slower), else executemany."""
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    names = list(rows[0])
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])


def _hashes(connection: Connection, parts: list[tuple[int, int]]) -> list[bytes]:
    """The stored hashes of perfect subtrees ``(start, level)``, in the order asked."""
    wanted = [merkle.node_id(start, level) for start, level in parts]
    found = dict(connection.execute(select(_nodes.c.id, _nodes.c.hash).where(_nodes.c.id.in_(set(wanted)))).all())
    missing = [node for node in wanted if node not in found]
    if missing:
        raise LookupError(f"the transparency log lacks node {missing[0]}: run flask evidence audit")
    return [bytes(found[node]) for node in wanted]


def hashes(connection: Connection, ranges: list[tuple[int, int]]) -> list[bytes]:
    """The hashes of the ranges ``[start, end)`` of the tree, from one query."""
    parts = [merkle.perfect(start, end) for start, end in ranges]
    flat = iter(_hashes(connection, [part for split in parts for part in split]))
    return [merkle.fold([next(flat) for _ in split]) for split in parts]


def root(connection: Connection, tree_size: int) -> bytes:
    return hashes(connection, [(0, tree_size)])[0] if tree_size else merkle.EMPTY


def _within(connection: Connection, tree_size: int) -> None:
    logged = size(connection)
    if tree_size > logged:
        raise merkle.ProofError(f"the log has {logged} leaves, not {tree_size}")


def inclusion(connection: Connection, leaf_index: int, tree_size: int) -> list[bytes]:
    """The inclusion path of a leaf in the tree of ``tree_size`` leaves (RFC 9162 §2.1.3.1)."""
    ranges = merkle.inclusion_ranges(leaf_index, tree_size)
    _within(connection, tree_size)
    return hashes(connection, ranges)


def consistency(connection: Connection, first: int, second: int) -> list[bytes]:
    """The consistency path between two tree sizes (RFC 9162 §2.1.4.1)."""
    ranges = merkle.consistency_ranges(first, second)
    _within(connection, second)
    return hashes(connection, ranges)


def entries(connection: Connection, start: int, end: int) -> list:
    """The leaves ``start ≤ leaf_index < end`` (at most :data:`MAX_ENTRIES`), in order."""
    end = min(end, start + MAX_ENTRIES)
    return connection.execute(select(_leaves.c.leaf_index, _leaves.c.event_id, _leaves.c.entry).where(
        _leaves.c.leaf_index >= start, _leaves.c.leaf_index < end).order_by(_leaves.c.leaf_index)).mappings().all()
