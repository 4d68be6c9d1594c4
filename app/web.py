"""The web process's request plumbing: the proxy in front of it, and the request id.

Behind Heroku's router the scheme and client address come from ``X-Forwarded-For`` and
``-Proto`` (one hop); the ``Host`` is the client's own. A body must arrive whole and in time
(:mod:`app.bodies`). Every request gets the ``X-Request-Id`` it came with (when it looks like
one) or a new one; the response echoes it and every log line of the request carries it.
The callback URL is answered by its own WSGI layer (``app.callbacks.CallbackRoute``) inside these
middlewares, with the same request id and URL limit (:func:`request_id_of`, :func:`url_too_long`).
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
    app.config["MAX_CONTENT_LENGTH"] = app.extensions["settings"].max_callback_bytes
    app.before_request(_assign_request_id)
    app.before_request(_refuse_long_urls)
    app.after_request(_echo_request_id)


def wrap(app: Flask) -> None:
    """The outer WSGI layers, around everything the rooms installed (the callback route): the
    body deadline, then the proxy fix outermost."""
    settings = app.extensions["settings"]
    app.wsgi_app = BodyDeadline(app.wsgi_app, seconds=settings.body_read_seconds,  # type: ignore[method-assign]
                                limit=settings.max_callback_bytes)
    # Heroku's router sets X-Forwarded-For and -Proto, never -Host: the Host a client sent is
    # kept, and no client can name another host for the redirects the app builds.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]


def request_id_of(given: str) -> str:
    """The request's id: the ``X-Request-Id`` it came with when that looks like one, else a new one."""
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def url_too_long(environ: dict) -> bool:
    target = environ.get("RAW_URI") or (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "") + "?"
                                        + environ.get("QUERY_STRING", ""))
    return len(target) > MAX_URL_BYTES


def _assign_request_id() -> None:
    g.request_id = request_id_of(request.headers.get("X-Request-Id", ""))


def _refuse_long_urls() -> None:
    if url_too_long(request.environ):
        abort(414, description=f"the URL is longer than {MAX_URL_BYTES} bytes; send fewer or shorter parameters")


def _echo_request_id(response):
    response.headers["X-Request-Id"] = g.get("request_id", "")
    return response
