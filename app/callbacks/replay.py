"""Re-driving journaled callbacks through their handlers, to recover after an outage.

DiCE and notify are applied to the catalogue again (``lifecycle.apply`` is idempotent: a
repeated event changes nothing), and the verifications they call for are queued. ICE, ACE and
PIE are not decided again: their reply has been sent, and if it was a fallback nothing of a
decision may be stored for it. Spooled entries are imported first (``flask journal spool``).

An imported DiCE or notify carries ``replay_pending`` until its effect is committed, in the same
transaction, so a replay cut short by the database resumes where it stopped (``pending=True``
replays exactly those), however many times the database comes and goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db import db
from app.journal import REPLAYED, JournalEntry
from app.recordings import lifecycle
from app.sinch.events import CallbackError, parse_callback

log = logging.getLogger(__name__)
_journal = JournalEntry.__table__


@dataclass
class ReplayReport:
    seen: int = 0
    applied: int = 0
    skipped: int = 0
    unreadable: int = 0
    verify: list[str] = field(default_factory=list)


def replay(since: datetime | None, until: datetime | None, *, call_id: str | None, dry_run: bool,
           recording_deadline: int, pending: bool = False, progress=lambda: None) -> ReplayReport:
    """Replay the DiCE and notifies received from ``since`` (to ``until``), or with ``pending``
    those imported and not replayed yet. A database that fails mid-way raises (what was not
    committed stays pending); an entry that cannot be applied is skipped, logged, not retried."""
    query = select(JournalEntry).where(JournalEntry.event.in_(REPLAYED),
                                       JournalEntry.signature.in_(("ok", "unchecked")))
    if pending:
        query = query.where(JournalEntry.replay_pending.is_(True))
    if since is not None:
        query = query.where(JournalEntry.received_at >= since)
    if until is not None:
        query = query.where(JournalEntry.received_at < until)
    if call_id:
        query = query.where(JournalEntry.call_id == call_id)
    report = ReplayReport()
    rows = list(db.session.scalars(query.order_by(JournalEntry.id)))
    db.session.rollback()
    for row in rows:
        report.seen += 1
        progress()
        try:
            event = parse_callback(row.body)
        except CallbackError:
            report.unreadable += 1
            _done(row.id, dry_run)
            continue
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                outcome = lifecycle.apply(connection, event, row.received_at, recording_deadline=recording_deadline)
                if dry_run:
                    transaction.rollback()
                else:
                    connection.execute(update(_journal).where(_journal.c.id == row.id).values(replay_pending=False))
                    transaction.commit()
                    report.verify.extend(outcome.verify)
                report.applied += 1
            except DBAPIError as error:
                transaction.rollback()
                if not isinstance(error, IntegrityError):
                    raise  # the database went away: this entry and those after it stay pending
                _skip(report, row, error, dry_run)
            except Exception as error:
                transaction.rollback()
                _skip(report, row, error, dry_run)
    return report


def _skip(report: ReplayReport, row: JournalEntry, error: Exception, dry_run: bool) -> None:
    report.skipped += 1
    log.warning("a journaled callback could not be replayed; skipped", extra={
        "journal_id": row.id, "call_id": row.call_id, "error": type(error).__name__})
    _done(row.id, dry_run)


def _done(journal_id: int, dry_run: bool) -> None:
    """An entry that cannot be applied is not pending any more (a replay would fail it again)."""
    if dry_run:
        return
    with db.engine.begin() as connection:
        connection.execute(update(_journal).where(_journal.c.id == journal_id).values(replay_pending=False))
