"""Liveness, readiness and metrics: ``/healthz`` (no I/O), ``/readyz`` (database and queue), ``/metrics``."""

from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from app.db import db, pending_migrations
from app.events.feed import delivery_state, failing_endpoints
from app.evidence.state import state as state_of_the_log
from app.journal import JournalEntry
from app.metrics import StateCollector, exposition
from app.recordings.models import Recording
from app.recordings.queries import overdue_count
from app.rules.loader import DEMO_WARNING

bp = Blueprint("health", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def _check(probe) -> str:
    try:
        return probe() or "ok"
    except Exception as error:  # report the kind of failure, never a URL or credential
        return f"unavailable ({type(error).__name__})"


@bp.get("/readyz")
def readyz():
    """Ready when the database is reachable and migrated and the queue answers.

    The ruleset in use is named too; the demo ruleset (RULES_FILE unset) is said plainly, but
    does not make the service unready: it is what a local try-out runs on.
    """
    def database():
        with db.engine.connect() as connection:
            return pending_migrations(connection)

    checks = {
        "database": _check(database),
        "queue": _check(current_app.extensions["huey"].pending_count),
    }
    ready = all(state == "ok" for state in checks.values())
    holder = current_app.extensions["rules"]
    rules = {"file": str(holder.path), "hash": holder.current.hash, "demo": holder.demo}
    if holder.demo:
        rules["warning"] = DEMO_WARNING
    return jsonify(status="ok" if ready else "unavailable", checks=checks, rules=rules,
                   backlog=backlog()), 200 if ready else 503


def backlog() -> dict:
    """What waits: tasks queued, recordings overdue, callbacks spooled (here and in Redis),
    imported callbacks not replayed yet, spooled lines set aside as unimportable, and webhook
    endpoints whose last attempt failed. A count
    that cannot be read is null; none of it makes the service unready (work in hand, not a fault)."""
    def count(probe):
        try:
            return probe()
        except Exception:
            return None

    def overdue():
        with db.engine.connect() as connection:
            return overdue_count(connection, datetime.now(timezone.utc), current_app.extensions["settings"])

    return {"queued": count(current_app.extensions["huey"].pending_count), "overdue": count(overdue),
            "spooled": count(lambda: len(current_app.extensions["sinch_recorder"].spool.waiting())),
            "replays_pending": count(replays_pending),
            "quarantined": count(current_app.extensions["sinch_recorder"].spool.quarantined),
            "webhooks_failing": count(webhooks_failing)}


def webhooks_failing() -> int:
    with db.engine.connect() as connection:
        return failing_endpoints(connection)


def webhook_state() -> dict:
    with db.engine.connect() as connection:
        return delivery_state(connection, datetime.now(timezone.utc))


def evidence_state() -> dict | None:
    if current_app.extensions["settings"].evidence_signing_key is None:
        return None
    with db.engine.connect() as connection:
        return state_of_the_log(connection, current_app.extensions["rules"].current)


def replays_pending() -> int:
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(JournalEntry)
                                  .where(JournalEntry.replay_pending.is_(True))).scalar()


@bp.get("/metrics")
def metrics():
    def count_statuses():
        with db.engine.connect() as connection:
            return connection.execute(select(Recording.status, func.count()).group_by(Recording.status)).all()

    def count_overdue():
        with db.engine.connect() as connection:
            return overdue_count(connection, datetime.now(timezone.utc), current_app.extensions["settings"])

    state = StateCollector(count_statuses, current_app.extensions["huey"].pending_count, count_overdue,
                           replays_pending, webhook_state, evidence_state)
    return Response(exposition(state, current_app.extensions["shared_counts"]), content_type=CONTENT_TYPE_LATEST)
