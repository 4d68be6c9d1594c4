"""The callback URL: ``POST /sinch/callback`` for every Sinch event.

verify signature → parse → decide (ICE/ACE/PIE) → journal → reply. The view only gathers the
request; :mod:`app.callbacks.handler` does the work.
"""

from flask import Blueprint, Response, current_app, g, request

from app.callbacks.handler import Incoming, handle

bp = Blueprint("callbacks", __name__)


@bp.post("/sinch/callback")
def callback() -> Response:
    incoming = Incoming(
        body=request.get_data(cache=False),
        path=request.script_root + request.path,
        method=request.method,
        content_type=request.headers.get("Content-Type"),
        authorization=request.headers.get("Authorization"),
        timestamp=request.headers.get("x-timestamp"),
        request_id=g.get("request_id"),
    )
    outgoing = handle(incoming, current_app.extensions["sinch_recorder"])
    g.call_id = outgoing.call_id
    return Response(outgoing.body, status=outgoing.status, headers=outgoing.headers,
                    content_type="application/json" if outgoing.body else None)
