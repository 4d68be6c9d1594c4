"""The callback URL: ``POST /sinch/callback`` for every Sinch event.

verify signature → parse → decide (ICE/ACE/PIE) → journal → reply. The view only gathers the
request; :mod:`app.callbacks.handler` does the work.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Blueprint, Flask, Response, current_app, g, request
from huey.storage import RedisStorage

from app import journal
from app.callbacks.handler import CallbackRuntime, Incoming, handle
from app.callbacks.recovery import settle
from app.callbacks.replies import Replier
from app.db import db
from app.recordings.catalogue import load_call, room_recorded
from app.rules.decide import decide
from app.settings import Settings

log = logging.getLogger(__name__)
bp = Blueprint("callbacks", __name__)


def init_app(app: Flask) -> None:
    """The callback URL, answered by the rules (and the sidecar, when there is one)."""
    settings = app.extensions["settings"]
    writer = journal.Writer(settings.journal_budget_ms)
    replier = Replier(decide=rules_decider(app.extensions["rules"],
                                           lambda room: writer.run(room_state, db.engine, room)),
                      fallback=app.extensions["fallback"],
                      load_call=lambda call_id: writer.run(call_state, db.engine, call_id),
                      sidecar=app.extensions["sidecar"])
    app.extensions["sinch_recorder"] = CallbackRuntime(settings=settings, replier=replier, spool=spool_of(app),
                                                       writer=writer)
    app.register_blueprint(bp)
    _warn_about(settings)


def spool_of(app: Flask) -> journal.Spool:
    """The journal's spool: the queue's Redis when there is one (shared by every dyno), else files
    in this instance folder."""
    storage, settings = app.extensions["huey"].storage, app.extensions["settings"]
    redis = storage.conn if isinstance(storage, RedisStorage) else None
    return journal.Spool(settings.instance_path / "spool", redis, f"{settings.huey_name}:journal-spool", settle)


def rules_decider(holder, room_recorded=lambda room: False):
    """``decide(event, call)`` on the holder's current ruleset, at the current time (asking
    ``room_recorded`` whether a conference room is being recorded already)."""
    return lambda event, call: decide(event, holder.current, datetime.now(timezone.utc), call,
                                      room_recorded=room_recorded)


def room_state(engine, room: str) -> bool:
    """Is this conference room being recorded (read under the callback's database budget)?"""
    with engine.connect() as connection:
        return room_recorded(connection, room)


def call_state(engine, call_id: str) -> dict | None:
    """A call's stored decision and consent (ACE and PIE are decided with it), read under the
    callback's database budget (in the writer's thread: hence the engine)."""
    with engine.connect() as connection:
        return load_call(connection, call_id)


def _warn_about(settings: Settings) -> None:
    if not settings.verify_signatures:
        log.warning("SINCH_VERIFY_SIGNATURES is off: ANYONE can post callbacks to this service. "
                    "Use this only for local experiments.")
    elif not settings.applications:
        log.warning("no Sinch application is configured (SINCH_APPLICATION_KEY/SECRET or "
                    "SINCH_APPLICATIONS): every callback will be refused with 401 unknown_key")


@bp.post("/sinch/callback")
def callback() -> Response:
    incoming = Incoming(
        body=request.get_data(cache=False),
        path=request.script_root + request.path,
        method=request.method,
        content_type=request.headers.get("Content-Type"),
        authorization=request.headers.get("Authorization"),
        timestamp=request.headers.get("x-timestamp"),
        request_id=g.get("request_id"),
    )
    outgoing = handle(incoming, current_app.extensions["sinch_recorder"])
    g.call_id = outgoing.call_id
    return Response(outgoing.body, status=outgoing.status, headers=outgoing.headers,
                    content_type="application/json" if outgoing.body else None)
