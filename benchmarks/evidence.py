"""Benchmark: the transparency log at scale — appending (µs a leaf, amortised) and proofs (ms each).

    .venv/bin/python -m benchmarks.evidence [--leaves 1000000] [--proofs 200] [--database sqlite|postgresql://…]

Writes ``--leaves`` numbered events (a verified recording's data each, as the catalogue writes
them; not timed), then times :func:`app.evidence.log.append` over all of them, and ``--proofs``
inclusion proofs at the full size and consistency proofs between random sizes. Baselines from
the same run: for appending, making the same leaves in memory (RFC 8785 + SHA-256, no database);
for proofs, one point lookup of a node hash (the least any proof costs). Prints each and the
ratios. The issue's bar: ≤ 100 µs a leaf, ≤ 10 ms a proof, at 1 M leaves.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, select

from benchmarks.callbacks import migrate

CHUNK = 20000


def event_data(n: int) -> dict:
    """What a recording.verified event's data looks like (the API's representation)."""
    rid = uuid.UUID(int=n).hex
    return {"id": rid, "call_id": f"call-{n}", "conference_id": None, "segment": 1, "status": "verified",
            "rule_id": "support-line", "ruleset_hash": "6bde08855f633712",
            "destination_url": f"s3://acme-recordings/calls/2026/12/04/call-{n}-1.mp3", "format": "mp3",
            "size_bytes": 48000 + n % 1000, "duration_ms": 12000 + n % 977, "sha256": f"{n:064x}",
            "content_type": "audio/mpeg", "requested_at": "2026-12-04T10:00:00+00:00",
            "finished_at": "2026-12-04T10:00:12+00:00", "available_at": "2026-12-04T10:00:13+00:00",
            "verified_at": "2026-12-04T10:00:14+00:00", "failure_reason": None, "pending_reason": None,
            "transcription_url": None, "retain_until": None, "legal_hold": False, "deletion": None, "copied_from": None}


def write_events(engine, count: int) -> None:
    from app.events.models import Event, EventSequence

    start = datetime(2026, 12, 4, tzinfo=timezone.utc)
    for first in range(0, count, CHUNK):
        rows = [{"id": f"evt_{n:032x}", "seq": n + 1, "type": "recording.verified",
                 "recording_id": uuid.UUID(int=n).hex, "call_id": f"call-{n}",
                 "created_at": start + timedelta(microseconds=n), "data": event_data(n)}
                for n in range(first, min(first + CHUNK, count))]
        with engine.begin() as connection:
            connection.execute(insert(Event.__table__), rows)
    with engine.begin() as connection:
        connection.execute(EventSequence.__table__.update().where(EventSequence.name == "events").values(last=count))


def in_memory(engine, count: int) -> float:
    """Seconds to make ``count`` leaves without a database: JCS + leaf hash + the frontier's nodes."""
    from app.events.models import Event
    from app.evidence import log, merkle

    with engine.connect() as connection:
        rows = connection.execute(select(Event.__table__).order_by(Event.seq).limit(count)).mappings().all()
    started = time.perf_counter()
    frontier: list[tuple[int, int, bytes]] = []
    for index, row in enumerate(rows):
        merkle.push(frontier, index, merkle.leaf_hash(log.entry_of(row)))
    return time.perf_counter() - started


def timed(calls) -> list[float]:
    """Milliseconds of each call, after a full garbage collection (the leaves made above are still
    being freed: a collection of them inside a proof would be timed as the proof)."""
    gc.collect()
    out = []
    for call in calls:
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL (its tables are emptied)")
    args = parser.parse_args(argv)

    from app import create_app
    from app.db import db
    from app.events.models import Event, EventSequence
    from app.evidence import log, merkle
    from app.evidence.models import EvidenceLeaf, EvidenceNode

    work = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    url = f"sqlite:///{work / 'bench.db'}" if args.database == "sqlite" else args.database
    migrate(url)
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(work / "instance"), "LOG_LEVEL": "WARNING"})
    with app.app_context():
        engine = db.engine
    with engine.begin() as connection:
        for table in (Event.__table__, EvidenceLeaf.__table__, EvidenceNode.__table__):
            connection.execute(table.delete())
        connection.execute(EventSequence.__table__.update().where(EventSequence.name == log.NAME).values(last=0))
    started = time.perf_counter()
    write_events(engine, args.leaves)
    print(f"wrote {args.leaves} events in {time.perf_counter() - started:.0f} s (not timed below)")

    baseline = in_memory(engine, min(args.leaves, 100_000)) / min(args.leaves, 100_000)
    started = time.perf_counter()
    appended = log.append(engine)
    per_leaf = (time.perf_counter() - started) / appended
    assert appended == args.leaves

    rng = random.Random(28)
    size = args.leaves
    with engine.connect() as connection:
        lookup = timed(lambda: connection.execute(select(EvidenceNode.hash).where(
            EvidenceNode.id == merkle.node_id(rng.randrange(size), 0))).scalar() for _ in range(args.proofs))
        inclusion = timed(lambda: log.inclusion(connection, rng.randrange(size), size) for _ in range(args.proofs))

        def consistency():
            first = rng.randrange(1, size)
            return log.consistency(connection, first, rng.randrange(first, size + 1))
        consistent = timed(consistency for _ in range(args.proofs))
    database = "sqlite" if args.database == "sqlite" else "postgresql"
    print(f"{args.leaves} leaves, {database}")
    print(f"append      {per_leaf * 1e6:8.1f} µs a leaf   in memory (JCS + SHA-256): {baseline * 1e6:.1f} µs   "
          f"ratio {per_leaf / baseline:.2f}x")
    lookup_ms = statistics.median(lookup)
    for name, values in (("inclusion", inclusion), ("consistency", consistent)):
        values.sort()
        print(f"{name:11} median {statistics.median(values):6.2f} ms  p99 {values[int(len(values) * 0.99) - 1]:6.2f} ms"
              f"  max {values[-1]:6.2f} ms   one node lookup {lookup_ms:.3f} ms   ratio "
              f"{statistics.median(values) / lookup_ms:.1f}x")


if __name__ == "__main__":
    main()
