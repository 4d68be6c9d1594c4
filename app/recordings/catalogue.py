"""Writing decisions into the catalogue and reading a call's state back, inside a transaction.

Everything here takes a SQLAlchemy ``Connection`` so the callback handler can put the journal
row, the call and its recordings in one short transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from app.recordings import status
from app.recordings.models import Call, Recording
from app.rules.decide import ACCEPTED, DECLINED, Decision

_calls, _recordings = Call.__table__, Recording.__table__


def load_call(connection: Connection, call_id: str) -> dict | None:
    row = connection.execute(select(_calls).where(_calls.c.call_id == call_id)).mappings().first()
    return dict(row) if row else None


_ICE_COLUMNS = ("application_key", "rule_id", "ruleset_hash", "decision", "facts", "consent", "resource_url")
_upserts: dict[str, object] = {}


def _ice_upsert(dialect: str):
    """One INSERT … ON CONFLICT DO UPDATE per dialect, built once (both SQLite and PostgreSQL)."""
    statement = _upserts.get(dialect)
    if statement is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        base = dialect_insert(_calls)
        statement = base.on_conflict_do_update(
            index_elements=[_calls.c.call_id], set_={name: base.excluded[name] for name in _ICE_COLUMNS})
        _upserts[dialect] = statement
    return statement


def save_decision(connection: Connection, decision: Decision, call_id: str, application_key: str | None,
                  now: datetime, resource_url: str | None = None) -> None:
    """Remember the decision with the call and catalogue each recording it starts (``requested``).

    A repeated callback (the same ICE twice) updates the call and adds no second recording for
    a key that is already catalogued.
    """
    if decision.event == "ice":
        connection.execute(_ice_upsert(connection.dialect.name), {
            "call_id": call_id, "started_at": now, "application_key": application_key,
            "rule_id": decision.rule_id, "ruleset_hash": decision.ruleset_hash, "decision": decision.record(),
            "facts": decision.call_facts, "consent": decision.consent, "resource_url": resource_url,
        })
    elif decision.recordings:  # an ACE/PIE reply started the recording: the call must know (never twice)
        known = connection.execute(select(_calls.c.decision).where(_calls.c.call_id == call_id)).scalar()
        if known is not None:
            keys = list(known.get("destination_keys") or []) + [r.url for r in decision.recordings]
            connection.execute(update(_calls).where(_calls.c.call_id == call_id)
                               .values(decision={**known, "destination_keys": keys}))
    if decision.consent in (ACCEPTED, DECLINED) and decision.consent_evidence is not None:
        connection.execute(update(_calls).where(_calls.c.call_id == call_id).values(
            consent=decision.consent, consent_evidence=decision.consent_evidence, consent_at=now))
    for planned in decision.recordings:
        exists = connection.execute(
            select(_recordings.c.id).where(_recordings.c.destination_url == planned.url)).first()
        if exists:
            continue
        connection.execute(insert(_recordings).values(
            id=uuid.uuid4().hex, call_id=call_id, conference_id=planned.conference_id, segment=planned.segment,
            status=status.next_status(None, status.REQUESTED), rule_id=decision.rule_id,
            destination=planned.destination, destination_url=planned.url, format=planned.format,
            mode=planned.mode, requested_at=now,
            retain_until=now + timedelta(days=planned.retain_days) if planned.retain_days else None,
        ))
