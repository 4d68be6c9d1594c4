"""The worker's part of the transparency log: every minute, append the new events and, when the
tree grew and ``EVIDENCE_STH_SECONDS`` have passed since the last head, sign a new one. Off (no
work at all) while ``EVIDENCE_SIGNING_KEY`` is unset. Every worker's scheduler queues it; the
appender's lock makes the second run of a minute find nothing to do."""

from __future__ import annotations

import logging

from flask import current_app
from huey import crontab

from app.db import db
from app.evidence import heads, log
from app.tasks import app_context, huey

logger = logging.getLogger(__name__)


def grow(app) -> dict | None:
    """Append, then sign a head if one is due; the new head or None (also when the log is off)."""
    settings = app.extensions["settings"]
    if settings.evidence_signing_key is None:
        return None
    with app.app_context():
        engine = db.engine
    appended = log.append(engine)
    head = heads.make(engine, settings.evidence_signing_key, every_seconds=settings.evidence_sth_seconds)
    if appended or head:
        logger.info("transparency log grown", extra={"appended": appended,
                                                     "tree_size": head and head["tree_size"]})
    return head


@huey.periodic_task(crontab(minute="*"))
def grow_every_minute() -> dict | None:
    with app_context():
        return grow(current_app._get_current_object())
