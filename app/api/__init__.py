"""The REST API, ``/api/v1`` (flask-smorest): schemas in and out, an OpenAPI document, tokens.

Every error leaves as ``{"error": {"code": ..., "message": ..., "fields": {...}}}``, the same
shape as the rest of the service.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api as SmorestApi
from werkzeug.exceptions import HTTPException

from app.api import events, evidence, recordings
from app.api.schemas import ErrorSchema
from app.errors import http_error
from app.sinch.client import ManageCallClient


class Api(SmorestApi):
    ERROR_SCHEMA = ErrorSchema  # the document shows the errors as they are

    def handle_http_exception(self, error: HTTPException):
        return http_error(error)


def init_app(app: Flask) -> Api:
    """``/api/v1`` and what it uses: the Manage Call client, built once (live control)."""
    app.extensions["manage_call"] = ManageCallClient(app.extensions["settings"].calling_base_url)
    app.config.update(
        API_TITLE="sinch-recorder", API_VERSION="v1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1", OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A token from API_TOKENS"}}},
            "security": [{"bearer": []}]},
    )
    api = Api(app)
    api.register_blueprint(recordings.blp)
    api.register_blueprint(events.blp)
    api.register_blueprint(evidence.blp)
    # What CopyArgs checks in code (validates_schema), said in the document too: a destination
    # profile (with an optional key, no credentials), or a target URL with the credentials that write there.
    api.spec.components.schemas["CopyArgs"]["oneOf"] = [
        {"required": ["destination"], "not": {"anyOf": [{"required": ["target"]}, {"required": ["credentials"]}]}},
        {"required": ["target", "credentials"], "properties": {"credentials": {"minProperties": 1}},
         "not": {"anyOf": [{"required": ["destination"]}, {"required": ["key"]}]}},
    ]
    return api
