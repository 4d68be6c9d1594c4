"""The web process's request plumbing: the proxy in front of it, and the request id.

Behind Heroku's router the scheme and client address come from ``X-Forwarded-For`` and
``-Proto`` (one hop); the ``Host`` is the client's own. A body must arrive whole and in time
(:mod:`app.bodies`). Every request gets the ``X-Request-Id`` it came with (when it looks like
one) or a new one; the response echoes it and every log line of the request carries it.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, abort, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.bodies import BodyDeadline

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# gunicorn lets request lines through up to 8 190 bytes (config/gunicorn.conf.py) and answers
# longer ones itself, in plain text; below that the app refuses URLs over this, in JSON.
MAX_URL_BYTES = 4094


def init_app(app: Flask) -> None:
    settings = app.extensions["settings"]
    app.config["MAX_CONTENT_LENGTH"] = settings.max_callback_bytes
    app.wsgi_app = BodyDeadline(app.wsgi_app, seconds=settings.body_read_seconds,  # type: ignore[method-assign]
                                limit=settings.max_callback_bytes)
    # Heroku's router sets X-Forwarded-For and -Proto, never -Host: the Host a client sent is
    # kept, and no client can name another host for the redirects the app builds.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    app.before_request(_assign_request_id)
    app.before_request(_refuse_long_urls)
    app.after_request(_echo_request_id)


def _assign_request_id() -> None:
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _refuse_long_urls() -> None:
    target = request.environ.get("RAW_URI") or request.full_path
    if len(target) > MAX_URL_BYTES:
        abort(414, description=f"the URL is longer than {MAX_URL_BYTES} bytes; send fewer or shorter parameters")


def _echo_request_id(response):
    response.headers["X-Request-Id"] = g.get("request_id", "")
    return response
