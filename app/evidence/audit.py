"""``flask evidence audit``: rebuild the tree from the database and check everything it vouches for.

* Each leaf's bytes are the event's canonical JSON as the event log holds it now: an event edited
  after it was logged, or deleted from the log, is named (one the event retention deleted is
  counted, not blamed).
* Each event the log numbered up to the last logged one is a leaf: one inserted into the event
  log afterwards is named.
* The tree is rebuilt from the leaves' bytes alone, and every stored node hash is compared with it.
* Every kept tree head is checked: its signature (by a key given), its root against the rebuilt
  tree, and its consistency with the head before it, by the log's own proof.
* Each recording's row says what its latest event says (status, SHA-256, size, file): a row edited
  behind the log's back is named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from app.events.models import Event
from app.evidence import heads, log, merkle
from app.evidence.models import EvidenceLeaf, EvidenceNode
from app.recordings import status
from app.recordings.models import Recording

_events, _leaves, _nodes = Event.__table__, EvidenceLeaf.__table__, EvidenceNode.__table__
_recordings = Recording.__table__
BATCH = 5000
# A recording's row in one of these statuses was written with its event; the event must agree.
ANNOUNCED = frozenset(status.EVENTS) | {status.REQUESTED}
COMPARED = ("status", "sha256", "size_bytes", "destination_url")


@dataclass
class Report:
    leaves: int = 0
    heads: int = 0
    pruned: int = 0
    recordings: int = 0
    problems: list[str] = field(default_factory=list)


def audit(engine: Engine, keys: list[bytes], retain_days: int = 0,
          progress: Callable[[int], None] = lambda done: None) -> Report:
    """Check the log against the database; ``keys`` are the public keys (raw) heads may be signed by."""
    report = Report()
    by_log = {heads.log_id(key): key for key in keys}
    with engine.connect() as connection:
        kept = heads.every(connection)
        logged = log.size(connection)
    _leaves_and_heads(engine, report, kept, by_log, retain_days, progress)
    if report.leaves != logged:
        report.problems.append(f"the log says it has {logged} leaves, the database holds {report.leaves}")
    with engine.connect() as connection:
        for before, after in zip(kept, kept[1:]):
            try:
                roots = (heads.unb64(before["root_hash"], "root"), heads.unb64(after["root_hash"], "root"))
                merkle.verify_consistency(before["tree_size"], after["tree_size"], *roots,
                                          log.consistency(connection, before["tree_size"], after["tree_size"]))
            except (merkle.ProofError, LookupError) as error:
                report.problems.append(f"tree heads {before['tree_size']} → {after['tree_size']} are not consistent: "
                                       f"{error}")
        _inserted(connection, report)
        _catalogue(connection, report)
    return report


def _leaves_and_heads(engine, report: Report, kept: list[dict], by_log: dict, retain_days: int, progress) -> None:
    cutoff = datetime.now(timezone.utc) - timedelta(days=retain_days) if retain_days else None
    at_size = {head["tree_size"]: head for head in kept}
    frontier: list[tuple[int, int, bytes]] = []
    index = 0
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(_leaves, _events.c.id.label("known"), _events.c.seq.label("event_seq"), _events.c.type,
                       _events.c.created_at, _events.c.data)
                .outerjoin(_events, _events.c.id == _leaves.c.event_id)
                .where(_leaves.c.leaf_index >= index).order_by(_leaves.c.leaf_index).limit(BATCH)).mappings().all()
            if not rows:
                break
            computed: dict[int, bytes] = {}
            for row in rows:
                if row["leaf_index"] != index:
                    report.problems.append(f"leaf {index} is missing from the log (the next is {row['leaf_index']})")
                    return
                entry = bytes(row["entry"])
                _check_event(report, row, entry, cutoff)
                computed.update(merkle.push(frontier, index, merkle.leaf_hash(entry)))
                index += 1
                if index in at_size:
                    _check_head(report, at_size[index], merkle.fold([part[2] for part in frontier]), by_log)
            _check_nodes(connection, report, computed)
        report.leaves = index
        progress(index)
    for size in sorted(at_size):
        if size > index:
            report.problems.append(f"the tree head of size {size} is beyond the {index} leaves the log holds")


def _check_event(report: Report, row, entry: bytes, cutoff) -> None:
    where = f"event {row['event_id']} (leaf {row['leaf_index']})"
    if row["known"] is None:
        stamp = json.loads(entry).get("timestamp", "")
        if cutoff is not None and stamp and datetime.fromisoformat(stamp.replace("Z", "+00:00")) < cutoff:
            report.pruned += 1
        else:
            report.problems.append(f"{where} was deleted from the event log")
        return
    if row["event_seq"] != row["seq"]:
        report.problems.append(f"{where} was renumbered in the event log: seq {row['event_seq']}, "
                               f"logged as {row['seq']}")
    if log.entry_of({**row, "id": row["event_id"]}) != entry:
        report.problems.append(f"{where} was changed in the event log after it was logged")


def _check_head(report: Report, head: dict, rebuilt: bytes, by_log: dict) -> None:
    report.heads += 1
    key = by_log.get(head["log_id"])
    if key is None:
        report.problems.append(f"the tree head of size {head['tree_size']} is signed by log {head['log_id']}, "
                               "whose key was not given (--key)")
    else:
        try:
            heads.check(head, key)
        except merkle.ProofError as error:
            report.problems.append(str(error))
    if heads.unb64(head["root_hash"], "root") != rebuilt:
        report.problems.append(f"the tree head of size {head['tree_size']} does not match the tree rebuilt from the "
                               "entries: an entry or the head was changed")


def _check_nodes(connection, report: Report, computed: dict[int, bytes]) -> None:
    ids = sorted(computed)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        stored = dict(connection.execute(select(_nodes.c.id, _nodes.c.hash).where(_nodes.c.id.in_(chunk))).all())
        for node in chunk:
            if stored.get(node) is None or bytes(stored[node]) != computed[node]:
                report.problems.append(f"the stored hash of node {node} differs from the rebuilt tree "
                                       "(proofs served from it would not verify)")
                return


def _inserted(connection, report: Report) -> None:
    last = log.last_seq(connection)
    unlogged = connection.execute(select(_events.c.id, _events.c.seq).where(
        _events.c.seq <= last, ~_events.c.id.in_(select(_leaves.c.event_id))).order_by(_events.c.seq).limit(10)).all()
    report.problems += [f"event {event_id} (seq {seq}) is in the event log but not in the transparency log: it was "
                        "inserted after its place was logged" for event_id, seq in unlogged]


def _catalogue(connection, report: Report) -> None:
    newest = func.row_number().over(partition_by=_events.c.recording_id, order_by=(
        _events.c.seq.is_(None).desc(), _events.c.seq.desc(), _events.c.created_at.desc())).label("rank")
    latest = select(_events.c.recording_id, _events.c.id, _events.c.data, newest).where(
        _events.c.recording_id.is_not(None), _events.c.type.like("recording.%")).subquery()
    rows = connection.execute(select(latest.c.id.label("event_id"), latest.c.data, _recordings).join(
        _recordings, _recordings.c.id == latest.c.recording_id).where(latest.c.rank == 1)).mappings()
    for row in rows:
        report.recordings += 1
        if row["status"] not in ANNOUNCED:
            continue  # (finished has no event of its own: its last event told an earlier status)
        for name in COMPARED:
            if row[name] != row["data"].get(name):
                report.problems.append(f"recording {row['id']}: its {name} is {row[name]!r} in the catalogue, its "
                                       f"latest event {row['event_id']} says {row['data'].get(name)!r}")
