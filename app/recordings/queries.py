"""Reading the catalogue: the recordings list (filters, keyset paging) for the API and the page.

Pages are newest first and keyed by ``(requested_at, id)``: the cursor is the last row's key,
and the next page is a row-value comparison on the composite index — one range scan at any
depth, and correct while rows are inserted (new rows land before the cursor, never inside a
page already read).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, tuple_

from app.recordings import status
from app.recordings.models import Call, CopyJob, Recording
from app.validation import unstorable


class BadCursor(ValueError):
    pass


def encode_cursor(key: tuple[datetime, str]) -> str:
    moment, identifier = key
    return base64.urlsafe_b64encode(json.dumps([moment.isoformat(), identifier]).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    try:
        moment, identifier = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None or not isinstance(identifier, str) or unstorable(identifier):
            raise ValueError("not ours")
        return moment.astimezone(timezone.utc), identifier
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise BadCursor("is not a cursor this service gave out; start again without it") from None


def recording_page(session, filters: dict, limit: int, cursor: tuple[datetime, str] | None = None
                   ) -> tuple[list[Recording], tuple[datetime, str] | None]:
    """One page of recordings matching ``filters`` (status, call_id, rule_id, since, until, and
    consent: how their call's consent question ended) and the cursor of the next page, or None
    on the last."""
    query = select(Recording)
    for name in ("status", "call_id", "rule_id"):
        if filters.get(name):
            query = query.where(getattr(Recording, name) == filters[name])
    if filters.get("consent"):
        query = query.where(Recording.call_id.in_(select(Call.call_id).where(Call.consent == filters["consent"])))
    if filters.get("since"):
        query = query.where(Recording.requested_at >= filters["since"])
    if filters.get("until"):
        query = query.where(Recording.requested_at < filters["until"])
    if cursor:
        query = query.where(tuple_(Recording.requested_at, Recording.id) < tuple_(*cursor))
    rows = list(session.scalars(query.order_by(Recording.requested_at.desc(), Recording.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    return page, ((page[-1].requested_at, page[-1].id) if len(rows) > limit else None)


def copy_jobs_of(session, recording_id: str) -> list[CopyJob]:
    """A recording's copy jobs, newest first."""
    return list(session.scalars(select(CopyJob).where(CopyJob.recording_id == recording_id)
                                .order_by(CopyJob.created_at.desc())))


def file_overdue(now: datetime, call_max_seconds: int, recording_deadline_seconds: int):
    """Recordings whose file should be there by now: past ``expected_by`` (set when the call
    ended), or, when the call's end was never heard of (``expected_by`` empty: a DiCE lost, say),
    requested longer ago than the longest call (``CALL_MAX_SECONDS``) and its deadline."""
    table = Recording.__table__
    never_ended = table.c.expected_by.is_(None) & (
        table.c.requested_at <= now - timedelta(seconds=call_max_seconds + recording_deadline_seconds))
    return table.c.status.in_((status.REQUESTED, *status.ENDED_BY_CONTROL, status.FINISHED)) & (
        (table.c.expected_by <= now) | never_ended)


def overdue_count(connection, now: datetime, settings) -> int:
    """Recordings not final past their deadline: their file overdue (:func:`file_overdue`: the
    sweeper should have marked them), or available and unproven ``VERIFY_DEADLINE_SECONDS`` later."""
    table = Recording.__table__
    late_file = file_overdue(now, settings.call_max_seconds, settings.recording_deadline_seconds)
    verify_deadline_seconds = settings.verify_deadline_seconds
    late_proof = (table.c.status == status.AVAILABLE) & (
        table.c.available_at <= now - timedelta(seconds=verify_deadline_seconds))
    return connection.execute(select(func.count()).select_from(table).where(late_file | late_proof)).scalar()
