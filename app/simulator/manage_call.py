"""The platform's Manage Call endpoint, simulated: ``PATCH /calling/v1/calls/id/<callId>``.

It checks what Sinch checks — the request signature (same recipe as callbacks, over the PATCH)
and that the SVAML is allowed for Manage Call — and answers like Sinch: 204 for a live call,
``{"errorCode": 40400}`` for an unknown one, 40003 for a bad request. Live calls are the ones
``live`` holds; every request is kept in ``received`` for inspection.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

from flask import Flask, jsonify, request

from app.simulator.platform import judge
from app.sinch.signing import verify


def create_manage_call(key: str, secret: str) -> Flask:
    app = Flask("sinch-manage-call")
    app.live = set()
    app.received = []
    applications = {key: base64.b64decode(secret)}

    @app.patch("/calling/v1/calls/id/<call_id>")
    def manage(call_id: str):
        body = request.get_data()
        verdict = verify(authorization=request.headers.get("Authorization"), timestamp=request.headers.get("x-timestamp"),
                         content_type=request.headers.get("Content-Type"), method="PATCH", path=request.path,
                         body=body, applications=applications, max_skew=600, now=datetime.now(timezone.utc))
        document = request.get_json(silent=True)
        app.received.append({"call_id": call_id, "signature": verdict.reason, "svaml": document})
        if not verdict.ok:
            return jsonify(errorCode=40108, message="Invalid credentials"), 401
        if call_id not in app.live:
            return jsonify(errorCode=40400, message="Call not found"), 404
        refused = judge(document, "manage")  # the simulator's own schema, as for callback replies
        if refused:
            return jsonify(errorCode=40003, message=f"Invalid request: {'; '.join(refused)}"), 400
        return "", 204

    return app
