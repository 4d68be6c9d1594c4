"""Values no column, log line or reply can hold (issue 13): lone surrogates, huge numbers, fields
longer than their columns. The call is answered, the effect stored or refused with 400, and
nothing reaches the spool that could not be imported."""

from __future__ import annotations

import json

import pytest

from app.sinch.svaml import render
from tests.support import SinchClient, journal_rows


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
