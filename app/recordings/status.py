"""The recording status machine — the only place that decides a recording's next status.

    requested → finished → available → verified
    with failed, missing, paused, stopped and deleted beside them.

Transitions are idempotent and go forwards along the main line: a repeated or late event (a
``recording_finished`` after ``recording_available``, say) leaves the status as it is. Each move
that happens writes its event (``recording.available``, ``.verified`` …) to the event log in the
same transaction (``finished`` has none: ``available`` follows it). The one
sideways move is between the two verdicts: a re-verification may fail a verified recording (its
content changed) or prove a failed one after all. ``deleted`` is the end. Rows are created by
``catalogue.new_recording``, in one of :data:`INITIAL`; every later change goes through
:func:`move`.
"""

from __future__ import annotations

from sqlalchemy import func, literal, select, update

from app.events import log as event_log
from app.recordings.models import Recording
from app.recordings.representation import shown_by_id

REQUESTED, FINISHED, AVAILABLE, VERIFIED = "requested", "finished", "available", "verified"
FAILED, MISSING, PAUSED, STOPPED, DELETED = "failed", "missing", "paused", "stopped", "deleted"
STATUSES = (REQUESTED, PAUSED, STOPPED, FINISHED, AVAILABLE, VERIFIED, FAILED, MISSING, DELETED)
# A segment live control ended (pause or stop) that Sinch has not delivered yet.
ENDED_BY_CONTROL = (PAUSED, STOPPED)
# Where a recording row may start: asked for by a decision or by live control; a file no rule
# asked for, first seen finished or available; a copy, available until its check moves it.
INITIAL = (REQUESTED, FINISHED, AVAILABLE)

# The event each move writes (a move to a status not named here writes none).
EVENTS = {PAUSED: "recording.paused", STOPPED: "recording.stopped", AVAILABLE: "recording.available",
          VERIFIED: "recording.verified", FAILED: "recording.failed", MISSING: "recording.missing",
          DELETED: "recording.deleted"}

# How far along the main line a status is; a move is allowed only forwards.
_RANK = {REQUESTED: 0, PAUSED: 1, STOPPED: 1, FINISHED: 2, AVAILABLE: 3, MISSING: 3, FAILED: 4, VERIFIED: 4, DELETED: 9}
_ALLOWED = {
    REQUESTED: {PAUSED, STOPPED, FINISHED, AVAILABLE, MISSING, FAILED, VERIFIED, DELETED},
    PAUSED: {FINISHED, AVAILABLE, MISSING, FAILED, DELETED},
    STOPPED: {FINISHED, AVAILABLE, MISSING, FAILED, DELETED},
    FINISHED: {AVAILABLE, MISSING, FAILED, VERIFIED, DELETED},
    AVAILABLE: {VERIFIED, FAILED, DELETED},
    MISSING: {AVAILABLE, VERIFIED, FAILED, DELETED},  # found late: the sweeper or a late notify
    FAILED: {VERIFIED, DELETED},                       # a re-verification may prove it after all
    VERIFIED: {FAILED, DELETED},                       # a later check can find it tampered with
    DELETED: set(),
}


def next_status(current: str | None, wanted: str) -> str:
    """The status after asking for ``wanted``: ``wanted`` if the move is allowed, else ``current``."""
    if wanted not in _RANK:
        raise ValueError(f"unknown recording status {wanted!r}")
    if current is None:
        return wanted
    return wanted if wanted in _ALLOWED[current] else current


def is_final(status: str) -> bool:
    return status in (VERIFIED, FAILED, DELETED)


def move(connection, recording_id: str, wanted: str, **fields) -> bool:
    """Move a recording towards ``wanted``, writing ``fields`` with it; the only status writer.

    Nothing is written when the move is not allowed (a late or repeated event). Timestamps
    (``*_at``) keep their first value. The update is conditional on the status read, so two
    workers racing on one recording cannot both apply a move.
    """
    table = Recording.__table__
    current = connection.execute(select(table.c.status).where(table.c.id == recording_id)).scalar()
    if current is None or current == wanted or next_status(current, wanted) != wanted:
        return False
    values = {name: (func.coalesce(table.c[name], literal(value, type_=table.c[name].type))
                     if name.endswith("_at") and name != "last_checked_at" else value)
              for name, value in fields.items()}
    result = connection.execute(update(table).where(table.c.id == recording_id, table.c.status == current)
                                .values(status=wanted, **values))
    if result.rowcount != 1:
        return False
    if wanted in EVENTS:
        announce(connection, recording_id, EVENTS[wanted])
    return True


def announce(connection, recording_id: str, type_: str) -> None:
    """The event ``type_`` with the recording as it now is, in the caller's transaction."""
    data = shown_by_id(connection, recording_id)
    event_log.append(connection, type_, data, recording_id=recording_id, call_id=data["call_id"])
