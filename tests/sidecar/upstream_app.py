"""A team's existing Sinch backend, as the sidecar's upstream in tests: it checks its own
signatures and runs its own call flows, chosen by the dialled number."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone

from flask import Flask, Response, jsonify, request

from app.sinch.signing import verify

PATH = "/upstream/callback"

# The sidecar's ruleset in these tests and in benchmarks/sidecar.py.
RULES = """
version: 1
allow_literal_credentials: true
destinations:
  store: {url: 's3://recordings/{callid}-{segment}.{format}', sinch_credentials: 'WKEY:wsecret:eu-north-1'}
rules:
  - {id: callouts-on-answer, when: {event: ace, origin: callout}, record: {destination: store}, connect: continue}
  - {id: leave-alone, when: {to: '+46899999999'}, upstream: only}
  - {id: rules-alone, when: {to: '+46800000000'}, upstream: 'off', connect: {pstn: '+46812340000'}}
  - {id: rooms, when: {to: '+46877777777'}, record: {destination: store, mode: conference},
     connect: {conference: 'room-{callid}'}, sensitive: {pause_recording: false}}
  - id: record-all
    record: {destination: store, announce: {say: "This call is recorded."}}
"""

FLOWS = {
    "+46811111111": {"instructions": [{"name": "say", "text": "Welcome to Acme.", "locale": "en-US"}],
                     "action": {"name": "connectPstn", "number": "+46855599999", "cli": "+46811111111"}},
    "+46822222222": {"action": {"name": "runMenu", "locale": "en-US", "menus": [{
        "id": "main", "mainPrompt": "#tts[Press 1 for sales, 2 for support]", "maxDigits": 1,
        "options": [{"dtmf": "1", "action": "return(sales)"}, {"dtmf": "2", "action": "return(support)"}]}]}},
    "+46833333333": {"instructions": [{"name": "startRecording", "options": {
        "destinationUrl": "s3://upstream-own-bucket/{callid}.mp3", "credentials": "UPKEY:upsecret:eu-west-1"}}],
                     "action": {"name": "connectPstn", "number": "+46855533333"}},
    "+46877777777": {"action": {"name": "connectConf", "conferenceId": "upstream-room"}},
    "+46888888888": {"action": {"name": "connectMxp", "destination": {"type": "username", "endpoint": "bob"}}},
    "+46899999999": {"action": {"name": "connectPstn", "number": "+46855599990"}},
    # The Java SDK's spelling and a key newer than the service's check: the customer's, passed on.
    "+46813131313": {"action": {"name": "connectMxp", "destination": {"type": "username", "endpoint": "bob"},
                                "callheaders": [{"key": "crm", "value": "42"}], "futureOption": True}},
}
SLOW_SECONDS = 5  # the slow flows' pace: well past the tests' budget (``BUDGET_MS``)
TRICKLING = "+46812121212"  # headers at once, then the body in ten pieces over SLOW_SECONDS
PIE_FLOWS = {"sales": {"action": {"name": "connectPstn", "number": "+46855511111"}},
             "support": {"action": {"name": "connectSip", "destination": {"type": "sip", "endpoint": "support@pbx.acme"}}}}


def create_upstream(key: str, secret: str) -> Flask:
    app = Flask("upstream")
    app.received = []  # (event, callid, signature verdict)
    app.scripted = {}  # callid → the SVAML to answer with, set by a test
    applications = {key: base64.b64decode(secret)}

    @app.post(PATH)
    def callback():
        body = request.get_data()
        verdict = verify(authorization=request.headers.get("Authorization"), timestamp=request.headers.get("x-timestamp"),
                         content_type=request.headers.get("Content-Type"), method="POST", path=request.path, body=body,
                         applications=applications, max_skew=600, now=datetime.now(timezone.utc))
        event = request.get_json()
        app.received.append((event["event"], event.get("callid"), verdict.reason, body))
        if not verdict.ok:
            return jsonify(error=verdict.reason), 401
        kind = event["event"]
        if event.get("callid") in app.scripted:
            return jsonify(app.scripted[event["callid"]])
        if kind in ("dice", "notify"):
            return "", 200
        if kind == "ace":
            return jsonify(action={"name": "continue"})
        if kind == "pie":
            return jsonify(PIE_FLOWS.get(event["menuResult"]["value"], {"action": {"name": "hangup"}}))
        to = event["to"]["endpoint"]
        if to == "+46844444444":
            time.sleep(SLOW_SECONDS)  # slower than the sidecar's budget
        if to == TRICKLING:
            body = json.dumps(FLOWS["+46811111111"]).encode()
            pieces = [body[len(body) * i // 10:len(body) * (i + 1) // 10] for i in range(10)]
            return Response(_slowly(pieces, SLOW_SECONDS / 10), content_type="application/json")
        if to == "+46855555555":
            return jsonify(error="boom"), 500
        if to == "+46866666666":
            return jsonify(action={"name": "continue"})  # not allowed in ICE
        return jsonify(FLOWS.get(to, {"action": {"name": "connectPstn"}}))

    return app


def _slowly(pieces, pause: float):
    for piece in pieces:
        yield piece
        time.sleep(pause)  # the upstream's pace, not a synchronisation
