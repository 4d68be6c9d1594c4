"""The operator page at ``/``: recordings with filters and status, a player, a call's decision
and consent record. Server-rendered (Jinja, no front-end build), read-only, behind the API's
tokens: a browser signs in once with a token (a session cookie remembers which), scripts may
send ``Authorization: Bearer`` as to the API."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import func, select

from app.db import db
from app.events.feed import of_call
from app.operator import access
from app.operator.forms import RecordingFilters
from app.recordings.control import pauses
from app.recordings.models import Call, Recording
from app.recordings.queries import copy_jobs_of, encode_cursor, recording_page
from app.recordings.status import STATUSES, VERIFIED
from app.rules.decide import CONSENTS
from app.rules.loader import DEMO_WARNING
from app.storage import StorageError
from app.storage.lookup import recording_backend
from app.validation import ids_in_the_path_are_text

bp = Blueprint("operator", __name__, template_folder="templates")
bp.before_request(access.require_sign_in)
bp.before_request(ids_in_the_path_are_text)

# The page's own styles inline, audio from the stores' presigned links, nothing else; never framed.
# Referrers only to this site (the sign-in form's CSRF check over https compares it), never to a store.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; media-src https: http:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages carry presigned links: no cache may keep them
}


@bp.after_request
def guarded(response):
    response.headers.update(SECURITY_HEADERS)
    return response
PAGE_SIZE = 50
LINK_SECONDS = 900


def init_app(app) -> None:
    """The page, its session cookie and CSRF protection (:mod:`app.operator.access`)."""
    access.init_app(app, app.extensions["settings"].secret_key)
    app.register_blueprint(bp)


@bp.context_processor
def ruleset_in_use() -> dict:
    """Every page says when the demo ruleset is answering calls (RULES_FILE unset)."""
    holder = current_app.extensions["rules"]
    return {"demo_warning": DEMO_WARNING if holder.demo else None}


@bp.get("/")
def recordings():
    try:
        filters = RecordingFilters().load(request.args)
    except ValidationError as error:
        problems = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.messages.items())
        return render_template("operator/recordings.html", rows=[], filters=request.args, problem=problems,
                               counts={}, statuses=STATUSES, consents=CONSENTS, next_url=None), 400
    rows, next_key = recording_page(db.session, filters, PAGE_SIZE, filters.get("cursor"))
    counts = dict(db.session.execute(select(Recording.status, func.count()).group_by(Recording.status)).all())
    next_url = None
    if next_key:
        kept = {name: value for name, value in request.args.items() if name != "cursor" and value}
        next_url = url_for(".recordings", **kept, cursor=encode_cursor(next_key))
    return render_template("operator/recordings.html", rows=rows, filters=request.args, problem=None,
                           counts=counts, statuses=STATUSES, consents=CONSENTS, next_url=next_url)


@bp.get("/recordings/<string:recording_id>")
def recording(recording_id: str):
    row = db.session.get(Recording, recording_id)
    if row is None:
        abort(404, description=f"no recording {recording_id}")
    link, link_problem = (_player_link(row) if row.status == VERIFIED else
                          (None, f"only verified recordings can be played; this one is {row.status}"))
    return render_template("operator/recording.html", row=row, link=link, link_problem=link_problem,
                           copies=copy_jobs_of(db.session, row.id), call=db.session.get(Call, row.call_id))


@bp.get("/calls/<string:call_id>")
def call(call_id: str):
    row = db.session.get(Call, call_id)
    segments = db.session.scalars(select(Recording).where(Recording.call_id == call_id)
                                  .order_by(Recording.segment, Recording.requested_at)).all()
    if row is None and not segments:
        abort(404, description=f"no call {call_id}")
    with db.engine.connect() as connection:
        events = of_call(connection, call_id)
    return render_template("operator/call.html", call=row, call_id=call_id, segments=segments, events=events,
                           pauses=pauses(row.controls if row else None),
                           links={r.id: _player_link(r)[0] for r in segments if r.status == VERIFIED})


def _player_link(row: Recording) -> tuple[str | None, str | None]:
    """A presigned link for the player, or why there is none."""
    try:
        backend, location = recording_backend(current_app.extensions["rules"].current, row)
        return backend.presign(location, LINK_SECONDS), None
    except StorageError as error:
        return None, f"no link: {error}"


bp.add_url_rule("/login", "login", access.login, methods=["GET", "POST"])
bp.add_url_rule("/logout", "logout", access.logout, methods=["POST"])
