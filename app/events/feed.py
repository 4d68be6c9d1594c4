"""The feed: sequenced events, oldest first, read with a cursor that never skips one; an event with
its deliveries; each webhook endpoint's health. Reading numbers what has committed first
(:func:`app.events.log.sequence`), so a reader sees its own writes at once."""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from app.events import log as event_log
from app.events.delivery import FAILED, PENDING, number
from app.events.models import Event, WebhookAttempt, WebhookDelivery
from app.events.types import matching

_events, _deliveries, _attempts = Event.__table__, WebhookDelivery.__table__, WebhookAttempt.__table__


def page(engine: Engine, endpoints: Mapping, *, after: int = 0, limit: int = 100, types: str | None = None,
         recording_id: str | None = None, call_id: str | None = None, since: datetime | None = None
         ) -> tuple[list[dict], int, bool]:
    """Events after position ``after`` that match the filters: ``(events, next position, more waiting)``."""
    number(engine, endpoints)
    query = select(_events).where(_events.c.seq.is_not(None), _events.c.seq > after)
    patterns = [t.strip() for t in (types or "").split(",") if t.strip()]
    if patterns:  # globs as a webhook's events: the types they mean, by name
        query = query.where(_events.c.type.in_(matching(patterns)))
    if recording_id is not None:
        query = query.where(_events.c.recording_id == recording_id)
    if call_id is not None:
        query = query.where(_events.c.call_id == call_id)
    if since is not None:
        query = query.where(_events.c.created_at >= since)
    with engine.connect() as connection:
        # The end of the log first: nothing numbered later can be skipped by moving the cursor to it.
        end = connection.execute(select(func.max(_events.c.seq))).scalar() or 0
        rows = connection.execute(query.where(_events.c.seq <= end).order_by(_events.c.seq)
                                  .limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    # Past the page's last event when more wait; else past everything looked through, so that a
    # filtered reader does not read the same unmatched events again next time.
    return [event_log.as_json(row) for row in rows], (rows[-1]["seq"] if more else max(end, after)), more


def detail(connection: Connection, event_id: str) -> dict | None:
    """An event with each endpoint's delivery and every attempt."""
    row = event_log.one(connection, event_id)
    if row is None:
        return None
    deliveries = connection.execute(select(_deliveries).where(_deliveries.c.event_id == event_id)
                                    .order_by(_deliveries.c.endpoint)).mappings().all()
    attempts = connection.execute(select(_attempts).where(_attempts.c.delivery_id.in_([d["id"] for d in deliveries]))
                                  .order_by(_attempts.c.number)).mappings().all() if deliveries else []
    return {**event_log.as_json(row), "deliveries": [
        {**delivery, "attempts": [a for a in attempts if a["delivery_id"] == delivery["id"]]}
        for delivery in deliveries]}


def health(connection: Connection, endpoints: Mapping, now: datetime) -> list[dict]:
    """Each endpoint: last success, failing since, deliveries pending (and the oldest's age), failed."""
    shown = []
    for name, endpoint in sorted(endpoints.items()):
        last_success = connection.execute(select(func.max(_deliveries.c.delivered_at))
                                          .where(_deliveries.c.endpoint == name)).scalar()
        failing = select(func.min(_attempts.c.at)).join(_deliveries, _deliveries.c.id == _attempts.c.delivery_id) \
            .where(_deliveries.c.endpoint == name, _attempts.c.error.is_not(None))
        if last_success is not None:
            failing = failing.where(_attempts.c.at > last_success)
        pending, oldest = connection.execute(select(func.count(), func.min(_deliveries.c.created_at)).where(
            _deliveries.c.endpoint == name, _deliveries.c.status == PENDING)).one()
        failed = connection.execute(select(func.count()).where(
            _deliveries.c.endpoint == name, _deliveries.c.status == FAILED)).scalar()
        shown.append({"name": name, "url": endpoint.url, "events": list(endpoint.events),
                      "last_success_at": last_success, "failing_since": connection.execute(failing).scalar(),
                      "pending": pending, "oldest_pending_seconds": (now - oldest).total_seconds() if oldest else None,
                      "failed": failed})
    return shown


def of_call(connection: Connection, call_id: str, limit: int = 500) -> list[dict]:
    """A call's events (its recordings' and its consent), oldest first, each with its deliveries'
    states (the operator page's call view)."""
    rows = connection.execute(select(_events).where(_events.c.call_id == call_id)
                              .order_by(_events.c.created_at, _events.c.id).limit(limit)).mappings().all()
    deliveries = connection.execute(select(_deliveries).where(
        _deliveries.c.event_id.in_([row["id"] for row in rows])).order_by(_deliveries.c.endpoint)).mappings().all() \
        if rows else []
    return [{**event_log.as_json(row), "recording_id": row["recording_id"],
             "deliveries": [d for d in deliveries if d["event_id"] == row["id"]]} for row in rows]


def delivery_state(connection: Connection, now: datetime) -> dict:
    """What ``/metrics`` and ``/readyz`` say of the webhooks: deliveries by endpoint and status,
    attempts by endpoint and outcome, each endpoint's oldest pending age, endpoints failing now
    (whose last attempt failed)."""
    by_status = connection.execute(select(_deliveries.c.endpoint, _deliveries.c.status, func.count())
                                   .group_by(_deliveries.c.endpoint, _deliveries.c.status)).all()
    attempts = connection.execute(
        select(_deliveries.c.endpoint, _attempts.c.error.is_(None), func.count())
        .join(_deliveries, _deliveries.c.id == _attempts.c.delivery_id)
        .group_by(_deliveries.c.endpoint, _attempts.c.error.is_(None))).all()
    oldest = connection.execute(select(_deliveries.c.endpoint, func.min(_deliveries.c.created_at))
                                .where(_deliveries.c.status == PENDING).group_by(_deliveries.c.endpoint)).all()
    return {"deliveries": [(endpoint, status, count) for endpoint, status, count in by_status],
            "attempts": [(endpoint, "ok" if ok else "failed", count) for endpoint, ok, count in attempts],
            "oldest_pending_seconds": {endpoint: (now - first).total_seconds() for endpoint, first in oldest},
            "failing_endpoints": failing_endpoints(connection)}


def failing_endpoints(connection: Connection) -> int:
    """How many endpoints' last attempt failed (``/readyz``'s ``webhooks_failing``)."""
    latest = select(_deliveries.c.endpoint, func.max(_attempts.c.at).label("at")) \
        .join(_deliveries, _deliveries.c.id == _attempts.c.delivery_id).group_by(_deliveries.c.endpoint).subquery()
    return connection.execute(
        select(func.count(func.distinct(latest.c.endpoint))).select_from(latest)
        .join(_deliveries, _deliveries.c.endpoint == latest.c.endpoint)
        .join(_attempts, (_attempts.c.delivery_id == _deliveries.c.id) & (_attempts.c.at == latest.c.at))
        .where(_attempts.c.error.is_not(None))).scalar()
