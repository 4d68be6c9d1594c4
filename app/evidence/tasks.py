"""The worker's part of the transparency log: every minute, append the new events, sign a new head
when the tree grew and ``EVIDENCE_STH_SECONDS`` have passed since the last one, and write the
heads not written yet to the ruleset's ``evidence:`` destination. Off (no work at all) while
``EVIDENCE_SIGNING_KEY`` is unset. Every worker's scheduler queues it; the locks make the second
run of a minute find nothing to do."""

from __future__ import annotations

import logging

from flask import current_app
from huey import crontab

from app.db import db
from app.events.delivery import number
from app.evidence import heads, log
from app.evidence.publish import publish
from app.storage import StorageError
from app.tasks import app_context, huey

logger = logging.getLogger(__name__)


def grow(app, every_seconds: float | None = None) -> dict | None:
    """Number the committed events, append them, sign a head if one is due (``every_seconds``:
    EVIDENCE_STH_SECONDS unless given), write the heads not written yet to the evidence
    destination; the new head or None (also when the log is off). A store that refuses a head is
    logged; the next round tries it again."""
    settings = app.extensions["settings"]
    if settings.evidence_signing_key is None:
        return None
    with app.app_context():
        engine = db.engine
    ruleset = app.extensions["rules"].current
    # Number what has committed (the dispatcher does too; whichever comes first fans it out).
    number(engine, ruleset.webhooks)
    appended = log.append(engine)
    head = heads.make(engine, settings.evidence_signing_key, every_seconds=settings.evidence_sth_seconds
                      if every_seconds is None else every_seconds)
    if appended or head:
        logger.info("transparency log grown", extra={"appended": appended,
                                                     "tree_size": head and head["tree_size"]})
    try:
        publish(engine, ruleset)
    except StorageError as error:
        logger.warning("a tree head could not be written to the evidence destination; the next round tries again",
                       extra={"destination": ruleset.evidence.destination, "error": str(error)})
    return head


@huey.periodic_task(crontab(minute="*"))
def grow_every_minute() -> dict | None:
    with app_context():
        return grow(current_app._get_current_object())
