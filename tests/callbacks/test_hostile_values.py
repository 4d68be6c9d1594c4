"""Values no column, log line or reply can hold (issue 13): lone surrogates, huge numbers, fields
longer than their columns. The call is answered, the effect stored or refused with 400, and
nothing reaches the spool that could not be imported."""

from __future__ import annotations

import json
import logging

import pytest

from app.sinch.svaml import render
from tests import payloads
from tests.support import SinchClient, call_row, journal_rows, recordings_of, unstored


def raw(payload: dict) -> bytes:
    return json.dumps(payload).replace("SURROGATE", "\\ud800").encode()


@pytest.fixture
def sinch(make_app):
    app = make_app()
    return app, SinchClient(app.test_client())


@pytest.mark.parametrize("field", ["to", "callid", "cli"])
def test_an_ice_with_a_lone_surrogate_is_answered_with_valid_svaml_and_journaled(sinch, field):
    app, client = sinch
    ice = {"event": "ice", "callid": "lone-1", "cli": "+46701111111", "domain": "pstn",
           "to": {"type": "number", "endpoint": "+46812345678"}}
    if field == "to":
        ice["to"]["endpoint"] = "SURROGATE"
    else:
        ice[field] = "SURROGATE"
    reply = client.post(raw(ice))
    assert reply.status_code == 200
    render(reply.json, "ice")
    [entry] = [e for e in journal_rows(app) if e.event == "ice"]
    assert entry.body == raw(ice)                        # what was sent, byte for byte
    assert app.extensions["sinch_recorder"].spool.waiting() == []


def test_a_dice_the_catalogue_cannot_hold_is_refused_naming_the_field(sinch):
    app, client = sinch
    refused = client.post({"event": "dice", "callid": "big-1", "reason": "CALLERHANGUP", "duration": 2**70})
    assert refused.status_code == 400 and "duration" in refused.json["error"]["message"]
    kept = client.post(raw({"event": "dice", "callid": "odd-1", "reason": "SURROGATE", "duration": 3,
                            "callResourceUrl": "https://x/SURROGATE"}))
    assert kept.status_code == 200
    assert app.extensions["sinch_recorder"].spool.waiting() == []


def test_headers_longer_than_their_columns_are_journaled_without_spooling(sinch):
    app, client = sinch
    response = client.post({"event": "ace", "callid": "long-1", "version": 1},
                           headers={"Authorization": f"Application {'k' * 300}:c2ln"},
                           content_type="application/json; " + "x" * 400)
    assert response.status_code in (400, 401, 415)
    [entry] = journal_rows(app)
    assert len(entry.content_type) <= 256 and (entry.application_key is None or len(entry.application_key) <= 128)
    assert app.extensions["sinch_recorder"].spool.waiting() == []


BIG = "x" * 60_000
UNCATALOGUABLE = [  # answered 200 and then refused by PostgreSQL's columns, before issue 26
    {**payloads.ICE_PSTN, "callid": "long-ice", "callResourceUrl": "https://calling.example/" + BIG},
    {**payloads.DICE, "callid": "long-reason", "reason": BIG},
    {**payloads.DICE, "callid": "long-result", "result": BIG},
    {**payloads.DICE, "callid": "long-key", "applicationKey": "k" * 300},
    *({**payloads.NOTIFY_AVAILABLE, "type": kind, "callid": f"{kind}-{n}", "destination": destination}
      for kind in ("recording_finished", "recording_available", "transcription_available")
      for n, destination in enumerate(["s3://b/" + "k" * 1100 + ".mp3", "s3://b/c/%2e%2e", "s3://b/c/k%00.mp3"])),
    {**payloads.NOTIFY_AVAILABLE, "callid": "long-room", "conferenceId": "r" * 300,
     "destination": "s3://b/room.mp3"},
]


@pytest.mark.parametrize("body", UNCATALOGUABLE, ids=lambda body: body["callid"])
def test_values_longer_than_their_columns_are_stored_with_their_effect_on_both_databases(sinch, body, caplog):
    """SQLite does not enforce lengths, PostgreSQL does: both keep exactly these callbacks, each
    with its effect on the catalogue (the call ended, the recording known), nothing spooled."""
    app, client = sinch
    caplog.set_level(logging.ERROR)
    reply = client.post(body)
    assert reply.status_code == 200
    assert unstored(caplog.records) == []
    [entry] = journal_rows(app)
    assert entry.outcome in ("answered", "accepted") and entry.error is None
    assert app.extensions["sinch_recorder"].spool.waiting() == []
    call = call_row(app, body["callid"])
    if body["event"] == "ice":
        assert call.resource_url is None and call.decision  # decided; too long to be a Manage Call URL
    elif body["event"] == "dice":
        assert call.ended_at is not None and len(call.end_reason or "") <= 64 and len(call.end_result or "") <= 32
    elif body["callid"] == "long-room":
        [recording] = recordings_of(app, body["callid"])
        assert recording.conference_id is None
    else:  # a name no store reads alike: nothing catalogued under it
        assert recordings_of(app, body["callid"]) == []
