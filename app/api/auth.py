"""Bearer tokens for ``/api/v1`` (``API_TOKENS``), compared in constant time."""

from __future__ import annotations

import hmac

from flask import current_app, request
from flask_smorest import abort


def require_token() -> None:
    """A ``before_request`` for API blueprints: 401 without a valid token, 403 when none is set up."""
    if request.endpoint and request.endpoint.endswith("openapi_json"):
        return
    tokens = current_app.extensions["settings"].api_tokens
    if not tokens:
        abort(403, message="the API is disabled: set API_TOKENS to one or more bearer tokens")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        abort(401, message="send 'Authorization: Bearer <token>' with a token from API_TOKENS",
              headers={"WWW-Authenticate": "Bearer"})
    if not any(hmac.compare_digest(given.strip().encode(), token.encode()) for token in tokens):
        abort(401, message="the bearer token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
