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
    given = bearer_token()
    if not given:
        abort(401, message="send 'Authorization: Bearer <token>' with a token from API_TOKENS",
              headers={"WWW-Authenticate": "Bearer"})
    if not is_valid_token(given, tokens):
        abort(401, message="the bearer token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def is_valid_token(given: str, tokens) -> bool:
    """Whether ``given`` is one of ``tokens`` (each compared in constant time)."""
    given = given.strip().encode()
    return any(hmac.compare_digest(given, token.encode()) for token in tokens)


def bearer_token() -> str:
    """The token of an ``Authorization: Bearer`` header, or an empty string."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""
