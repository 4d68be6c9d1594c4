"""Every error leaves as JSON: ``{"error": {"code": ..., "message": ..., "fields": {...}}}``."""

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app.validation import describe, flatten_messages

log = logging.getLogger(__name__)


def http_error(error: HTTPException):
    """The JSON response for any HTTP error, with the invalid fields named when there are some."""
    data = getattr(error, "data", None) or {}
    body = {"code": (error.name or "error").lower().replace(" ", "_"), "message": data.get("message") or error.description}
    messages = data.get("messages")
    if messages:  # webargs: {location: {field: [...]}}, or {location: [...]} for a body it cannot parse
        fields = flatten_messages({k: v for location, found in messages.items()
                                   for k, v in (found.items() if isinstance(found, dict) else [(location, found)])})
        body.update(code="invalid_request", message=describe(fields), fields=fields)
    response = jsonify(error=body)
    response.status_code = error.code or 500
    for name, value in error.get_headers() or []:
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        log.exception("unhandled error")
        return jsonify(error={"code": "internal_error", "message": "internal error; see the service log"}), 500
