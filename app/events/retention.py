"""Retention of the event log: events older than ``EVENTS_RETAIN_DAYS`` leave it (0, the default:
kept for ever), with their deliveries and attempts.

Separate from the journal's retention (``JOURNAL_RETAIN_DAYS``): the events are what customers'
systems and auditors read. An event still waiting for its number (the feed has not seen it yet)
or with a delivery still pending is kept whatever its age. The worker prunes every hour, once
across all workers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from huey import crontab
from sqlalchemy import delete, select

from app.db import db
from app.events.delivery import PENDING
from app.events.models import Event, WebhookAttempt, WebhookDelivery
from app.tasks import huey, prune_this_hour

log = logging.getLogger(__name__)
_events, _deliveries, _attempts = Event.__table__, WebhookDelivery.__table__, WebhookAttempt.__table__
BATCH = 1000


def prune(engine, before: datetime, batch: int = BATCH) -> int:
    """Delete the events made before ``before`` (numbered, nothing pending), oldest first, with
    their deliveries and attempts, ``batch`` events a transaction; how many events."""
    pending = select(_deliveries.c.id).where(_deliveries.c.event_id == _events.c.id,
                                             _deliveries.c.status == PENDING).exists()
    deleted = 0
    while True:
        with engine.begin() as connection:
            ids = connection.execute(select(_events.c.id).where(
                _events.c.created_at < before, _events.c.seq.is_not(None), ~pending)
                .order_by(_events.c.seq).limit(batch)).scalars().all()
            if ids:
                deliveries = select(_deliveries.c.id).where(_deliveries.c.event_id.in_(ids))
                connection.execute(delete(_attempts).where(_attempts.c.delivery_id.in_(deliveries)))
                connection.execute(delete(_deliveries).where(_deliveries.c.event_id.in_(ids)))
                connection.execute(delete(_events).where(_events.c.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < batch:
            return deleted


def prune_events(retain_days: int, now: datetime) -> int:
    """Prune the log as ``EVENTS_RETAIN_DAYS`` says (0: nothing)."""
    return prune(db.engine, now - timedelta(days=retain_days)) if retain_days > 0 else 0


@huey.periodic_task(crontab(minute="47", hour="*"))
def prune_events_hourly() -> int | None:
    """Every hour, once across all workers."""
    return prune_this_hour("events-prune", "events_retain_days", prune_events, "event log pruned", log)
