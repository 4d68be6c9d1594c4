"""The simulator plays a card payment through the sidecar (issue 26): ``flask sinch simulate call
--press 1 --press 4111111111111111#`` in front of an IVR that records the call itself and asks
for a card number. The simulator writes real WAV files to SeaweedFS, each key sounding as its
DTMF tone wherever a recording runs, as on a real call; a detector (tests/dtmf.py) listens to
what was stored. Paused for the card menu, the IVR's recording leaves two segments and the card's
tones are in neither; with ``pause_recording: false`` one file holds them all, and the detector
hears the card number."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from flask import Flask, jsonify, request
from app.storage import parse_location
from tests.dtmf import keys_heard
from tests.processes import Served
from tests.storage_servers import S3_SERVICE, S3_SINCH, new_s3_bucket, s3_client
from tests.support import APP_KEY, APP_SECRET

CARD = "4111111111111111"
TOKEN = "payments-token"
PAY_MENU = {"id": "main", "mainPrompt": "#tts[Press 1 to pay by card]", "maxDigits": 1,
            "options": [{"dtmf": "1", "action": "return(pay)"}]}
CARD_MENU = {"id": "card", "mainPrompt": "#tts[Key your card number, then hash]", "maxDigits": 19}


def payment_ivr(bucket: str) -> Flask:
    """The team's IVR: it records the call into its own folder (Sinch names the files), asks to
    pay, takes the card number (an unnamed 19-digit menu), then connects an agent."""
    app = Flask("card-ivr")
    app.cards = []
    options = {"destinationUrl": f"s3://{bucket}/ivr/", "credentials": f"{S3_SINCH[0]}:{S3_SINCH[1]}:us-east-1",
               "format": "wav"}

    @app.post("/ivr")
    def callback():
        event = json.loads(request.get_data())
        if event["event"] == "ice":
            return jsonify(instructions=[{"name": "startRecording", "options": options}],
                           action={"name": "runMenu", "menus": [PAY_MENU]})
        if event["event"] == "ace":
            return jsonify(action={"name": "continue"})
        if event["event"] != "pie":
            return "", 200
        if event["menuResult"]["value"] == "pay":
            return jsonify(action={"name": "runMenu", "mainMenu": "card", "menus": [PAY_MENU, CARD_MENU]})
        app.cards.append(event["menuResult"]["value"])
        return jsonify(instructions=[{"name": "say", "text": "Thank you, payment taken."}],
                       action={"name": "connectPstn", "number": "+46855500000"})

    return app


@pytest.fixture
def ivr(s3_server):
    bucket = new_s3_bucket(s3_server, "pay")[0]
    app = payment_ivr(bucket)
    served = Served(app)
    served.cards = app.cards
    yield served
    served.close()


def play(make_app, tmp_path, s3_server, ivr, pause: bool):
    """One simulated payment call through the service: the service and the CLI's output. (The
    tests take ``queue`` so that the notifies' queued checks of the IVR's files end with them.)"""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({
        "version": 1, "sensitive": {"pause_recording": pause}, "rules": [{"id": "payments", "record": False}]}))
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), UPSTREAM_CALLBACK_URL=f"{ivr.url}/ivr",
                   UPSTREAM_TIMEOUT_MS="3000", API_TOKENS=TOKEN)
    service = Served(app)
    try:
        result = app.test_cli_runner().invoke(args=[
            "sinch", "simulate", "call", "--target", f"{service.url}/sinch/callback", "--key", APP_KEY,
            "--secret", APP_SECRET, "--s3-endpoint", s3_server.endpoint, "--duration", "2",
            "--press", "1", "--press", f"{CARD}#"])
    finally:
        service.close()
    assert result.exit_code == 0, result.output
    return app, result.output


def heard(s3_server, output: str) -> list[str]:
    """The keys heard in each file the simulator says it recorded, in order."""
    keys = []
    for uri in re.findall(r"^  recorded (\S+) ", output, re.MULTILINE):
        location = parse_location(uri)
        data = s3_client(s3_server.endpoint, *S3_SERVICE).get_object(Bucket=location.bucket, Key=location.key)
        keys.append(keys_heard(data["Body"].read()))
    return keys


def test_a_paused_payment_leaves_two_segments_and_the_card_in_neither(make_app, tmp_path, s3_server, ivr, queue):
    app, output = play(make_app, tmp_path, s3_server, ivr, pause=True)
    assert ivr.cards == [CARD]  # the IVR took the payment
    lines = output.splitlines()
    assert "ice    200" in lines[1] and "startRecording, runMenu" in lines[1], output
    assert "pie    200" in lines[2] and "stopRecording, runMenu" in lines[2], output
    assert "pie    200" in lines[3] and "say, startRecording, connectPstn" in lines[3], output
    assert heard(s3_server, output) == ["1", ""]  # the key to pay is in the first; the card in neither
    call_id = lines[0].split()[1]
    answer = app.test_client().get(f"/api/v1/calls/{call_id}/recordings",
                                   headers={"Authorization": f"Bearer {TOKEN}"}).json
    [pause] = answer["pauses"]
    assert pause["reason"] == "sensitive input: menu card" and pause["from"] < pause["to"], answer
    assert CARD not in output


def test_unpaused_the_recording_holds_the_card_number(make_app, tmp_path, s3_server, ivr, queue):
    """The control: the same call with ``pause_recording: false`` records the tones, and the
    detector hears every key; so the silent second segment above is the pause, not a deaf test."""
    _, output = play(make_app, tmp_path, s3_server, ivr, pause=False)
    assert ivr.cards == [CARD]
    assert heard(s3_server, output) == [f"1{CARD}#"]
