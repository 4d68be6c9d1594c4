"""Re-driving journaled callbacks through their handlers, to recover after an outage.

DiCE and notify are applied to the catalogue again (``lifecycle.apply`` is idempotent: a
repeated event changes nothing), and the verifications they call for are queued. ICE, ACE and
PIE are not decided again: their reply has been sent, and if it was a fallback nothing of a
decision may be stored for it. Spooled entries are imported first (``flask journal spool``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from app.db import db
from app.journal import JournalEntry
from app.recordings import lifecycle
from app.sinch.events import CallbackError, parse_callback


@dataclass
class ReplayReport:
    seen: int = 0
    applied: int = 0
    skipped: int = 0
    unreadable: int = 0
    verify: list[str] = field(default_factory=list)


def replay(since: datetime, until: datetime | None, *, call_id: str | None, dry_run: bool,
           recording_deadline: int, progress=lambda: None) -> ReplayReport:
    query = select(JournalEntry).where(JournalEntry.received_at >= since, JournalEntry.event.in_(("dice", "notify")),
                                       JournalEntry.signature.in_(("ok", "unchecked")))
    if until is not None:
        query = query.where(JournalEntry.received_at < until)
    if call_id:
        query = query.where(JournalEntry.call_id == call_id)
    report = ReplayReport()
    rows = list(db.session.scalars(query.order_by(JournalEntry.id)))
    for row in rows:
        report.seen += 1
        progress()
        try:
            event = parse_callback(row.body)
        except CallbackError:
            report.unreadable += 1
            continue
        connection = db.engine.connect()
        transaction = connection.begin()
        try:
            outcome = lifecycle.apply(connection, event, row.received_at, recording_deadline=recording_deadline)
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
                report.verify.extend(outcome.verify)
            report.applied += 1
        except Exception:
            transaction.rollback()
            report.skipped += 1
        finally:
            connection.close()
    return report
