"""The callback URL: ``POST /sinch/callback`` for every Sinch event.

verify signature → parse → decide (ICE/ACE/PIE) → journal → reply. :mod:`app.callbacks.handler`
does the work; this module only gathers the request and sends the reply. The callback URL is the
service's hot path, so it is answered by a WSGI layer of its own (:class:`CallbackRoute`, inside
the body deadline and the proxy fix) in an app context, without Flask's request dispatch: the
same request id, URL limit and log context as every other route, at a fraction of the cost
(docs/performance.md). The blueprint's view stays for what the layer leaves to Flask.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Blueprint, Flask, Response, current_app, g, request
from huey.storage import RedisStorage
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_input_stream

from app import journal
from app.callbacks.handler import CallbackRuntime, Incoming, handle
from app.callbacks.recovery import settle
from app.callbacks.replies import Replier
from app.db import db
from app.recordings.catalogue import load_call, room_recorded
from app.rules.decide import decide
from app.settings import Settings
from app.web import request_id_of, url_too_long

log = logging.getLogger(__name__)
bp = Blueprint("callbacks", __name__)
PATH = "/sinch/callback"


def init_app(app: Flask) -> None:
    """The callback URL, answered by the rules (and the sidecar, when there is one)."""
    settings = app.extensions["settings"]
    writer = journal.Writer(settings.journal_budget_ms, group_wait_ms=settings.journal_group_wait_ms,
                            request_threads=settings.web_threads)
    holder = app.extensions["rules"]
    replier = Replier(decide=rules_decider(holder,
                                           lambda room: writer.run(room_state, db.engine, room)),
                      fallback=app.extensions["fallback"],
                      load_call=lambda call_id: writer.run(call_state, db.engine, call_id),
                      sidecar=app.extensions["sidecar"])
    app.extensions["sinch_recorder"] = CallbackRuntime(settings=settings, replier=replier, spool=spool_of(app),
                                                       writer=writer, rules=lambda: holder.current)
    app.register_blueprint(bp)
    app.wsgi_app = CallbackRoute(app, app.wsgi_app)  # type: ignore[method-assign]
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


class CallbackRoute:
    """WSGI layer: ``POST /sinch/callback`` answered in an app context, everything else (and a
    callback URL over the length limit) passed on to Flask."""

    def __init__(self, app: Flask, wsgi_app):
        self.app, self.next = app, wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST" or url_too_long(environ):
            return self.next(environ, start_response)
        request_id = request_id_of(environ.get("HTTP_X_REQUEST_ID", ""))
        with self.app.app_context():
            g.request_id = request_id  # the log lines of the callback carry it
            outgoing = handle(incoming_from(environ, request_id), self.app.extensions["sinch_recorder"])
        headers = [("Content-Length", str(len(outgoing.body))), ("X-Request-Id", request_id)]
        if outgoing.body:
            headers.append(("Content-Type", "application/json"))
        headers.extend(outgoing.headers.items())
        start_response(f"{outgoing.status} {HTTP_STATUS_CODES.get(outgoing.status, '')}", headers)
        return [outgoing.body]


def incoming_from(environ: dict, request_id: str | None) -> Incoming:
    """The callback as the handler takes it, from the WSGI environ."""
    script = environ.get("SCRIPT_NAME", "").encode("latin-1").decode("utf-8", "replace").rstrip("/")
    return Incoming(
        body=get_input_stream(environ).read(),
        path=script + environ["PATH_INFO"],
        method=environ["REQUEST_METHOD"],
        content_type=environ.get("CONTENT_TYPE"),
        authorization=environ.get("HTTP_AUTHORIZATION"),
        timestamp=environ.get("HTTP_X_TIMESTAMP"),
        request_id=request_id,
    )


@bp.post(PATH)
def callback() -> Response:
    outgoing = handle(incoming_from(request.environ, g.get("request_id")), current_app.extensions["sinch_recorder"])
    return Response(outgoing.body, status=outgoing.status, headers=outgoing.headers,
                    content_type="application/json" if outgoing.body else None)
