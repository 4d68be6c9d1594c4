"""The web process's request plumbing: the proxy in front of it, and the request id.

Behind Heroku's router (or any proxy in ``FORWARDED_ALLOW_IPS``) the scheme, host and client
address come from ``X-Forwarded-*``. Every request gets the ``X-Request-Id`` it came with (when
it looks like one) or a new one; the response echoes it and every log line of the request
carries it.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def init_app(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = app.extensions["settings"].max_callback_bytes
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)


def _assign_request_id() -> None:
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _echo_request_id(response):
    response.headers["X-Request-Id"] = g.get("request_id", "")
    return response
