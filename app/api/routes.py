"""What every route of the API shares: the errors its document lists."""

from __future__ import annotations

from http import HTTPStatus

from flask_smorest import Blueprint


def documented_failures(blp: Blueprint):
    """``fails(*codes)`` for a blueprint's routes: document the errors a route may answer with,
    besides 401 (no token) and 400 (a NUL in an id) that every route may: each is an ``ErrorSchema``."""
    def fails(*codes: int):
        def decorate(view):
            for code in sorted({400, 401, *codes}):
                view = blp.alt_response(code, response=HTTPStatus(code).name)(view)
            return view
        return decorate
    return fails
