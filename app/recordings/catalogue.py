"""Writing decisions into the catalogue and reading a call's state back, inside a transaction.

Everything here takes a SQLAlchemy ``Connection`` so the callback handler can put the journal
row, the call and its recordings in one short transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from app.db import Prepared, fitted
from app.events import log as event_log
from app.recordings import status
from app.recordings.models import ROOM_OPEN, Call, Recording
from app.recordings.representation import shown
from app.rules.decide import ANSWERS, PENDING, Decision

_calls, _recordings = Call.__table__, Recording.__table__


def load_call(connection: Connection, call_id: str) -> dict | None:
    row = connection.execute(select(_calls).where(_calls.c.call_id == call_id)).mappings().first()
    return dict(row) if row else None


_ICE_COLUMNS = ("application_key", "rule_id", "ruleset_hash", "decision", "facts", "consent", "resource_url",
                "conference_id")
_upserts: dict[str, object] = {}


def _dialect_insert(dialect: str):
    """The INSERT construct with ON CONFLICT of the database in use (SQLite or PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


def _ice_upsert(dialect: str):
    """One INSERT … ON CONFLICT DO UPDATE per dialect, built once (both SQLite and PostgreSQL)."""
    statement = _upserts.get(dialect)
    if statement is None:
        base = _dialect_insert(dialect)(_calls)
        statement = base.on_conflict_do_update(
            index_elements=[_calls.c.call_id], set_={name: base.excluded[name] for name in _ICE_COLUMNS})
        _upserts[dialect] = statement
    return statement


_ice_row = Prepared(_ice_upsert, ("call_id", "started_at", *_ICE_COLUMNS))  # every ICE writes it


def _room_insert(dialect: str):
    """INSERT … ON CONFLICT DO NOTHING on the room's open recording (``ux_recordings_room_open``)."""
    return _dialect_insert(dialect)(_recordings).on_conflict_do_nothing(
        index_elements=[_recordings.c.conference_id], index_where=ROOM_OPEN)


def save_decision(connection: Connection, decision: Decision, call_id: str, application_key: str | None,
                  now: datetime, resource_url: str | None = None) -> None:
    """Remember the decision with the call and catalogue each recording it starts (``requested``).

    A repeated callback (the same ICE twice) updates the call and adds no second recording for
    a key that is already catalogued.
    """
    if decision.event == "ice":
        _ice_row.execute(connection, [{
            "call_id": call_id, "started_at": now, "application_key": application_key,
            "rule_id": decision.rule_id, "ruleset_hash": decision.ruleset_hash, "decision": decision.record(),
            "facts": decision.call_facts, "consent": decision.consent,
            "resource_url": fitted(_calls.c.resource_url, resource_url, cut=False),  # too long: no Manage Call
            "conference_id": decision.room,
        }])
    elif decision.recordings:  # an ACE/PIE reply started the recording: the call must know (never twice)
        known = connection.execute(select(_calls.c.decision).where(_calls.c.call_id == call_id)).scalar()
        if known is not None:
            keys = list(known.get("destination_keys") or []) + [r.url for r in decision.recordings]
            flag = {"flag": True} if any(r.mode != "instruction" for r in decision.recordings) else {}
            connection.execute(update(_calls).where(_calls.c.call_id == call_id)
                               .values(decision={**known, "destination_keys": keys, **flag}))
    if decision.consent in ANSWERS and decision.consent_evidence is not None:
        connection.execute(update(_calls).where(_calls.c.call_id == call_id).values(
            consent=decision.consent, consent_evidence=decision.consent_evidence, consent_at=now))
        consent_event(connection, call_id, decision.consent, decision.consent_evidence, now)
    elif decision.consent == PENDING and decision.consent_evidence is not None:  # what is being asked
        connection.execute(update(_calls).where(_calls.c.call_id == call_id).values(
            consent_evidence=decision.consent_evidence))
    for planned in decision.recordings:
        exists = connection.execute(
            select(_recordings.c.id).where(_recordings.c.destination_url == planned.url)).first()
        if exists:
            continue
        new_recording(connection, call_id=call_id, conference_id=planned.conference_id, segment=planned.segment,
                      rule_id=decision.rule_id, ruleset_hash=decision.ruleset_hash, destination=planned.destination,
                      destination_url=planned.url, format=planned.format, mode=planned.mode, requested_at=now,
                      retain_days=planned.retain_days,
                      announced="recording.resumed" if planned.resumed else None)


def consent_event(connection: Connection, call_id: str, outcome: str, evidence: dict | None, at: datetime) -> None:
    """``call.consent``: the caller's answer (accepted, declined, timeout, no_answer) and what was asked."""
    event_log.append(connection, "call.consent", {"call_id": call_id, "consent": outcome, "evidence": evidence,
                                                  "at": event_log.rfc3339(at)}, call_id=call_id, now=at)


def save_sensitive(connection: Connection, call_id: str, state: dict | None, controls, *,
                   pause_ours: bool = False) -> None:
    """What a reply's sensitive menu changed (``app.callbacks.sensitive``): the call's sensitive
    state (None: unchanged), its pause and resume entries in the control log (where live control
    keeps its own), and with ``pause_ours`` the rules' running segment, now over, ``paused``."""
    if state is not None:
        connection.execute(update(_calls).where(_calls.c.call_id == call_id).values(sensitive=state))
    append_controls(connection, call_id, controls)
    if pause_ours:
        for recording_id in connection.execute(select(_recordings.c.id).where(
                _recordings.c.call_id == call_id, _recordings.c.status == status.REQUESTED)).scalars().all():
            status.move(connection, recording_id, status.PAUSED)


def append_controls(connection: Connection, call_id: str, entries) -> None:
    """Add entries to a call's control log (start/stop/pause/resume: who, why, when), read and
    written in the caller's transaction."""
    if entries:
        known = connection.execute(select(_calls.c.controls).where(_calls.c.call_id == call_id)).scalar()
        connection.execute(update(_calls).where(_calls.c.call_id == call_id).values(
            controls=list(known or []) + list(entries)))


def room_recorded(connection: Connection, room: str) -> bool:
    """Is this conference room being recorded: someone is still in it, and its recording was asked
    for and has not finished? (Once everyone has left, the room ends, and so does its recording.)"""
    inside = select(_calls.c.call_id).where(_calls.c.conference_id == room, _calls.c.ended_at.is_(None)).exists()
    return connection.execute(select(_recordings.c.id).where(
        _recordings.c.conference_id == room, _recordings.c.status.in_((status.REQUESTED, *status.ENDED_BY_CONTROL)),
        inside).limit(1)).first() is not None


def next_segment(connection: Connection, call_id: str) -> int:
    """The number of a call's next recording segment (1 for its first)."""
    return connection.execute(select(func.coalesce(func.max(_recordings.c.segment), 0))
                              .where(_recordings.c.call_id == call_id)).scalar() + 1


CREATED = {status.REQUESTED: "recording.requested", status.AVAILABLE: "recording.available"}


def new_recording(connection: Connection, *, call_id: str, destination_url: str, requested_at: datetime,
                  initial: str = status.REQUESTED, segment: int | None = None, retain_days: int | None = None,
                  announced: str | None = None, **columns) -> str | None:
    """Insert one recording row and return its id: the only place recording rows are created.

    ``segment`` is the call's next one unless given; ``retain_days`` (the rule's) sets
    ``retain_until`` from ``requested_at``; the first status is one a recording may start in
    (:data:`status.INITIAL`): later moves go through :func:`status.move`. Its event goes to the
    log in the same transaction: ``announced`` (``recording.resumed``, ``recording.copied``), else
    ``recording.requested`` or ``recording.available`` by its first status (a file first seen
    ``finished`` has none until it is available).

    A room's recording asked for while the room already has an open one (two first participants
    deciding at once) is not written: None (``ux_recordings_room_open`` decides, not a read).
    """
    if initial not in status.INITIAL:
        raise ValueError(f"a recording cannot start as {initial!r}")
    if segment is None:
        segment = next_segment(connection, call_id)
    recording_id = uuid.uuid4().hex
    values = dict(id=recording_id, call_id=call_id, segment=segment, status=initial, destination_url=destination_url,
                  requested_at=requested_at,
                  retain_until=requested_at + timedelta(days=retain_days) if retain_days else None, **columns)
    if values.get("conference_id") and initial == status.REQUESTED:
        if not connection.execute(_room_insert(connection.dialect.name).values(**values)).rowcount:
            return None  # the room is being recorded already: its first participant's row stands
    else:
        connection.execute(insert(_recordings).values(**values))
    announced = announced or CREATED.get(initial)
    if announced:
        event_log.append(connection, announced, shown(values), recording_id=recording_id, call_id=call_id,
                         now=requested_at)
    return recording_id


def hold(connection: Connection, recording_id: str, held: bool) -> bool:
    """Put a recording under legal hold or lift it (``recording.held`` / ``.released``); False
    when it already was so."""
    changed = connection.execute(update(_recordings).where(
        _recordings.c.id == recording_id, _recordings.c.legal_hold.is_(not held)).values(legal_hold=held)).rowcount
    if changed:
        status.announce(connection, recording_id, "recording.held" if held else "recording.released")
    return bool(changed)


def withdraw_decision(connection: Connection, *, call_id: str, requested_at: datetime, reason: str) -> int:
    """The recordings a decision catalogued (``requested`` at ``requested_at``) that Sinch was
    never asked for: they end ``failed`` with ``reason``. Returns how many."""
    ids = connection.execute(select(_recordings.c.id).where(
        _recordings.c.call_id == call_id, _recordings.c.requested_at == requested_at,
        _recordings.c.status == status.REQUESTED)).scalars().all()
    return sum(status.move(connection, recording_id, status.FAILED, failure_reason=reason) for recording_id in ids)
