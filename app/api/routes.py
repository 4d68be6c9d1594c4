"""What every route of the API shares: the token, ids fit for a database, the errors its
document lists."""

from __future__ import annotations

from http import HTTPStatus

from flask_smorest import Blueprint

from app.api.auth import require_token
from app.validation import ids_in_the_path_are_text


def api_blueprint(name: str, import_name: str, description: str):
    """``(blueprint, fails)``: a blueprint under ``/api/v1`` behind the API token, refusing an id
    with a NUL in the path, and its :func:`documented_failures`."""
    blp = Blueprint(name, import_name, url_prefix="/api/v1", description=description)
    blp.before_request(require_token)
    blp.before_request(ids_in_the_path_are_text)
    return blp, documented_failures(blp)


def documented_failures(blp: Blueprint):
    """``fails(*codes)`` for a blueprint's routes: document the errors a route may answer with,
    besides 401 (no token), 400 (a NUL in an id) and 414 (a URL over 4 094 bytes) that every
    route may: each is an ``ErrorSchema``."""
    def fails(*codes: int):
        def decorate(view):
            for code in sorted({400, 401, 414, *codes}):
                view = blp.alt_response(code, response=HTTPStatus(code).name)(view)
            return view
        return decorate
    return fails
