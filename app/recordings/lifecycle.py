"""What DiCE and the recording notifies do to the catalogue (inside the callback's transaction).

* DiCE — the call ended: its end is stored, and its open recordings get a deadline
  (``expected_by``) after which the sweeper looks for them; a consent question still open is
  answered ``no_answer`` (the caller hung up on it).
* ``recording_finished`` → ``finished``; ``recording_available`` → ``available`` (and a
  verification); ``transcription_available`` → ``transcription_url``; ``callingerror`` is kept
  with the call.

A notify names the file by its ``destination``, matched to the catalogue by canonical URI; a
file no rule asked for still gets a row (``rule_id`` empty), so nothing is lost. Repeated and
reordered notifies end in the same state: statuses only move forwards (``status.move``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from app.db import fitted
from app.recordings import status
from app.recordings.catalogue import consent_event, new_recording
from app.recordings.models import Call, Recording
from app.rules.decide import NO_ANSWER, PENDING
from app.storage import LocationError, parse_location

_calls, _recordings = Call.__table__, Recording.__table__
OPEN = (status.REQUESTED, *status.ENDED_BY_CONTROL, status.FINISHED)


@dataclass
class Outcome:
    """What the caller must do once the transaction commits."""

    verify: list[str] = field(default_factory=list)  # recording ids


def apply(connection: Connection, event: dict, now: datetime, *, recording_deadline: int) -> Outcome:
    kind = event["event"]
    if kind == "dice":
        return _ended(connection, event, now, recording_deadline)
    if kind != "notify":
        return Outcome()
    handler = _NOTIFIES.get(str(event.get("type", "")).lower())
    return handler(connection, event, now) if handler else Outcome()


def _ensure_call(connection: Connection, call_id: str, now: datetime, application_key: str | None) -> None:
    exists = connection.execute(select(_calls.c.call_id).where(_calls.c.call_id == call_id)).first()
    if not exists:  # e.g. a callout: no ICE was ever seen
        connection.execute(insert(_calls).values(call_id=call_id, started_at=now, consent="not_asked",
                                                 application_key=fitted(_calls.c.application_key, application_key,
                                                                        cut=False)))


def _ended(connection: Connection, event: dict, now: datetime, deadline: int) -> Outcome:
    call_id = event["callid"]
    _ensure_call(connection, call_id, now, event.get("application_key"))
    connection.execute(update(_calls).where(_calls.c.call_id == call_id).values(
        ended_at=func.coalesce(_calls.c.ended_at, now),
        end_reason=fitted(_calls.c.end_reason, event.get("reason"), cut=True),
        end_result=fitted(_calls.c.end_result, event.get("result"), cut=True), duration_s=event.get("duration")))
    _unanswered(connection, call_id, event, now)
    expected_by = now + timedelta(seconds=deadline)
    connection.execute(update(_recordings).where(
        _recordings.c.call_id == call_id, _recordings.c.conference_id.is_(None), _recordings.c.status.in_(OPEN),
        _recordings.c.expected_by.is_(None)).values(expected_by=expected_by))
    room = connection.execute(select(_calls.c.conference_id).where(_calls.c.call_id == call_id)).scalar()
    if room is not None:
        _room_left(connection, room, expected_by)
    return Outcome()


def _room_left(connection: Connection, room: str, expected_by: datetime) -> None:
    """A participant left a conference room: when nobody is left in it, its recording is over
    (Sinch records a room until everyone has left) and its file is expected by ``expected_by``."""
    inside = connection.execute(select(_calls.c.call_id).where(
        _calls.c.conference_id == room, _calls.c.ended_at.is_(None)).limit(1)).first()
    if inside is None:
        connection.execute(update(_recordings).where(
            _recordings.c.conference_id == room, _recordings.c.status.in_(OPEN),
            _recordings.c.expected_by.is_(None)).values(expected_by=expected_by))


def _unanswered(connection: Connection, call_id: str, event: dict, now: datetime) -> None:
    """A call that ended while its consent question was still open: the caller hung up on it
    (``no_answer``), kept with what was asked and how the call ended."""
    asked = connection.execute(select(_calls.c.consent_evidence).where(
        _calls.c.call_id == call_id, _calls.c.consent == PENDING)).first()
    if asked is None:
        return
    evidence = {**(asked[0] or {}), "type": "hangup", "reason": event.get("reason"), "result": event.get("result"),
                "timestamp": event.get("timestamp") or now.isoformat()}
    connection.execute(update(_calls).where(_calls.c.call_id == call_id, _calls.c.consent == PENDING).values(
        consent=NO_ANSWER, consent_evidence=evidence, consent_at=now))
    consent_event(connection, call_id, NO_ANSWER, evidence, now)


def _destination_uri(event: dict) -> str | None:
    """The canonical URI of the file a notify names, or None when it names none we can read (nor
    could catalogue: longer than the column)."""
    destination = event.get("destination")
    if not destination:
        return None
    try:
        return fitted(_recordings.c.destination_url, parse_location(destination).uri, cut=False)
    except LocationError:
        return None


def _by_destination(connection: Connection, event: dict):
    """The recording a notify's ``destination`` names, or (None, uri) when none is catalogued."""
    uri = _destination_uri(event)
    if uri is None:
        return None, None
    row = connection.execute(select(_recordings).where(_recordings.c.destination_url == uri)).mappings().first()
    return row, uri


def _open_recording(connection: Connection, event: dict):
    """Without a usable destination: the call's (or conference's) latest open recording."""
    query = select(_recordings).where(_recordings.c.status.in_(OPEN))
    if event.get("conference_id"):
        query = query.where(_recordings.c.conference_id == event["conference_id"])
    else:
        query = query.where(_recordings.c.call_id == event["callid"])
    return connection.execute(query.order_by(_recordings.c.segment.desc())).mappings().first()


def _unknown_recording(connection: Connection, event: dict, uri: str, now: datetime, wanted: str) -> str:
    """A file Sinch wrote that no rule asked for (started outside the rules): catalogue it anyway."""
    extension = uri.rsplit(".", 1)[-1].lower() if "." in uri.rsplit("/", 1)[-1] else ""
    conference_id = fitted(_recordings.c.conference_id, event.get("conference_id"), cut=False)
    return new_recording(connection, call_id=event["callid"], conference_id=conference_id,
                         initial=wanted, destination_url=uri, format=extension if extension in ("mp3", "wav") else "mp3",
                         requested_at=now, **({"available_at": now} if wanted == status.AVAILABLE else {"finished_at": now}))


def _finished(connection: Connection, event: dict, now: datetime) -> Outcome:
    row, uri = _by_destination(connection, event)
    if row is None and uri is not None:
        _unknown_recording(connection, event, uri, now, status.FINISHED)
        return Outcome()
    row = row or _open_recording(connection, event)
    if row is not None:
        status.move(connection, row["id"], status.FINISHED, finished_at=now)
    return Outcome()


def _available(connection: Connection, event: dict, now: datetime) -> Outcome:
    row, uri = _by_destination(connection, event)
    if row is None and uri is not None:
        return Outcome(verify=[_unknown_recording(connection, event, uri, now, status.AVAILABLE)])
    row = row or _open_recording(connection, event)
    if row is None:
        return Outcome()
    if status.move(connection, row["id"], status.AVAILABLE, available_at=now):
        return Outcome(verify=[row["id"]])
    return Outcome()


def _transcription(connection: Connection, event: dict, now: datetime) -> Outcome:
    uri = _destination_uri(event)
    if uri is None:
        return Outcome()
    stem = uri.rsplit("/", 1)[-1].rsplit(".", 1)[0].removesuffix("-transcript").removesuffix("_transcript")
    rows = connection.execute(select(_recordings.c.id, _recordings.c.destination_url)
                              .where(_recordings.c.call_id == event["callid"])
                              .order_by(_recordings.c.segment.desc())).all()
    match = next((r.id for r in rows if r.destination_url.rsplit("/", 1)[-1].rsplit(".", 1)[0] == stem),
                 rows[0].id if rows else None)
    if match is not None:
        connection.execute(update(_recordings).where(_recordings.c.id == match).values(transcription_url=uri))
    return Outcome()


def _calling_error(connection: Connection, event: dict, now: datetime) -> Outcome:
    _ensure_call(connection, event["callid"], now, event.get("application_key"))
    connection.execute(update(_calls).where(_calls.c.call_id == event["callid"]).values(error={
        "code": event.get("error_code"), "message": event.get("error_msg"), "at": now.isoformat()}))
    return Outcome()


_NOTIFIES = {
    "recording_finished": _finished,
    "recording_available": _available,
    "transcription_available": _transcription,
    "callingerror": _calling_error,
}
