"""Liveness, readiness and metrics: ``/healthz`` (no I/O), ``/readyz`` (database and queue), ``/metrics``."""

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from app.db import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def _check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception as error:  # report the kind of failure, never a URL or credential
        return f"unavailable ({type(error).__name__})"


@bp.get("/readyz")
def readyz():
    def database():
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    checks = {
        "database": _check(database),
        "queue": _check(current_app.extensions["huey"].pending_count),
    }
    ready = all(state == "ok" for state in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics():
    from sqlalchemy import func, select

    from app.metrics import StateCollector, exposition
    from app.recordings.models import Recording

    def count_statuses():
        with db.engine.connect() as connection:
            return connection.execute(select(Recording.status, func.count()).group_by(Recording.status)).all()

    state = StateCollector(count_statuses, current_app.extensions["huey"].pending_count)
    return Response(exposition(state), content_type=CONTENT_TYPE_LATEST)
