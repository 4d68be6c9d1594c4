"""Deleting recordings: the object first, then the row, with a receipt; a legal hold stops it.

One path for every deletion — ``DELETE /api/v1/recordings/<id>``, ``flask recordings purge``
and the hourly retention task (rules' ``retain_days``). The object is deleted from the store
before the row is marked ``deleted``, so a failure leaves a row that still points at its file
(and is tried again) rather than a file nobody knows about.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from app.db import db
from app.recordings import status
from app.recordings.models import Recording
from app.storage import NotFound, StorageError
from app.storage.lookup import read_backend

_table = Recording.__table__


class Held(Exception):
    """The recording is under legal hold."""


class NotDeletable(Exception):
    pass


def delete(engine, ruleset, recording_id: str, *, by: str, reason: str, now: datetime | None = None) -> dict:
    """Delete one recording; returns the receipt. Raises Held, NotDeletable or StorageError."""
    now = now or datetime.now(timezone.utc)
    with engine.connect() as connection:
        row = connection.execute(select(_table).where(_table.c.id == recording_id)).mappings().first()
    if row is None:
        raise NotDeletable(f"no recording {recording_id}")
    if row["status"] == status.DELETED:
        return row["deletion"]
    if row["legal_hold"]:
        raise Held(f"recording {recording_id} is under legal hold; lift the hold before deleting it")
    if row["status"] in (status.REQUESTED, *status.ENDED_BY_CONTROL):
        raise NotDeletable(f"recording {recording_id} is still {row['status']}: wait until the call has ended")
    backend, location = read_backend(ruleset, row)
    try:
        backend.delete(location)
        gone = "deleted"
    except NotFound:
        gone = "already absent"
    receipt = {"at": now.isoformat(), "by": by, "reason": reason, "sha256": row["sha256"],
               "object": row["destination_url"], "object_was": gone}
    with engine.begin() as connection:
        status.move(connection, recording_id, status.DELETED, deleted_at=now, deletion=receipt)
    return receipt


def due(connection, now: datetime) -> list[str]:
    """Recordings past their retention date, not held, not deleted, not still recording."""
    return list(connection.execute(select(_table.c.id).where(
        _table.c.retain_until <= now, _table.c.legal_hold.is_(False),
        _table.c.status.notin_((status.DELETED, status.REQUESTED, *status.ENDED_BY_CONTROL)))).scalars())


def purge(ruleset, now: datetime, *, dry_run: bool = False, progress=lambda: None) -> dict:
    """Delete every recording past its retention date; a summary of what happened."""
    with db.engine.connect() as connection:
        ids = due(connection, now)
    report = {"due": len(ids), "deleted": 0, "failed": 0, "errors": []}
    for recording_id in ids:
        progress()
        if dry_run:
            continue
        try:
            delete(db.engine, ruleset, recording_id, by="retention", reason="retain_days elapsed", now=now)
            report["deleted"] += 1
        except (StorageError, Held, NotDeletable) as error:
            report["failed"] += 1
            report["errors"].append(f"{recording_id}: {error}")
    return report
