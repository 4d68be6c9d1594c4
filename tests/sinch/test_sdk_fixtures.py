"""Sinch's own SDK fixtures as ground truth (issue 12): every callback they hold is answered, and
every SVAML document the docs support is accepted — by the service's check, and passed on as sent
in sidecar mode. What the docs do not support is refused naming the field, and the sidecar then
falls back. The fixtures and their sources: ``tests/fixtures/sinch-sdk/MANIFEST.txt``."""

from __future__ import annotations

import json

import pytest

from app.sinch.svaml import SvamlError, render
from tests import payloads
from tests.sdk_fixtures import sdk_fixtures
from tests.sidecar.test_sidecar import sidecar, upstream  # noqa: F401  (fixtures)
from tests.support import SinchClient, journal_rows

CALLBACKS = sdk_fixtures("callback")
SVAML = sdk_fixtures("svaml")

# What the service refuses, and why: placeholders and spellings the docs do not support.
REFUSED = {
    "js-node-callbacks/readme.md.json#1": "action.name",                    # 2015 spelling: Say, ConnectConf
    "sinch-sdk-dotnet/CalloutTests.cs.json#1": "action",                    # {}: no action
    "sinch-sdk-dotnet/Callouts.cs.json#0": "instructions[1].options.destinationUrl",  # "To specify"
    "sinch-sdk-java/SvamlActionConnectPstnDto.json": "action.indications",  # "unknown value"
    "sinch-sdk-java/SvamlActionRunMenuDto.json": "action.menus",            # no menu "main"
    "sinch-sdk-java/SvamlInstructionStartRecordingDto.json": "instructions[0].options.destinationUrl",  # "destination value"
    "sinch-sdk-node/helper.test.ts.json#14": "instructions[0].options.credentials",  # "dummyAzureCredentials"
    "sinch-sdk-node/helper.test.ts.json#16": "instructions[1].options.credentials",
    "sinch-sdk-node/helper.test.ts.json#19": "instructions[1].options.credentials",
}
# Refused by the service's own strict check, passed on in sidecar mode (the customer's keys).
STRICT_ONLY = {"sinch-sdk-java/SvamlActionConnectMxpDto.json": "action.callheaders"}  # the Java SDK's spelling


def test_the_fixtures_are_all_here():
    assert len(CALLBACKS) == 17 and len(SVAML) == 54
    assert set(REFUSED) | set(STRICT_ONLY) <= {fixture.id for fixture in SVAML}


@pytest.mark.parametrize("fixture", CALLBACKS, ids=str)
def test_every_callback_in_sinchs_fixtures_is_answered(make_app, fixture):
    app = make_app()
    response = SinchClient(app.test_client()).post(json.dumps(fixture.payload).encode())
    assert response.status_code == 200, response.data
    if fixture.callback in ("ice", "ace", "pie"):
        render(response.json, fixture.callback)               # valid SVAML for that callback
    [row] = journal_rows(app)
    assert row.outcome in ("answered", "accepted") and row.error is None, (row.outcome, row.error)


@pytest.mark.parametrize("fixture", SVAML, ids=str)
def test_every_svaml_fixture_the_docs_support_is_accepted_and_the_rest_refused_naming_the_field(fixture):
    refused = REFUSED.get(fixture.id) or STRICT_ONLY.get(fixture.id)
    if refused is None:
        assert render(fixture.payload, fixture.callback) == fixture.payload
        return
    with pytest.raises(SvamlError) as caught:
        render(fixture.payload, fixture.callback)
    assert refused in caught.value.problems, caught.value.problems


def _callback(kind: str, call_id: str) -> dict:
    if kind == "ice":
        return payloads.ICE_PSTN | {"callid": call_id}
    if kind == "ace":
        return {"event": "ace", "callid": call_id, "version": 1}
    return {"event": "pie", "callid": call_id, "version": 1, "menuResult": {"type": "return", "value": "x"}}


@pytest.mark.parametrize("fixture", SVAML, ids=str)
def test_in_sidecar_mode_every_supported_fixture_is_passed_on_as_sent(sidecar, upstream, fixture):  # noqa: F811
    call_id = "sdk-" + fixture.id.replace("/", "-")[-40:]
    upstream.scripted[call_id] = fixture.payload
    reply = SinchClient(sidecar.test_client()).post(_callback(fixture.callback, call_id)).json
    [row] = journal_rows(sidecar)
    if fixture.id in REFUSED:
        assert row.upstream["outcome"] == "invalid_svaml" and REFUSED[fixture.id] in row.upstream["problem"]
        render(reply, fixture.callback)                       # the fallback, valid
        return
    assert row.upstream["outcome"] == "ok", row.upstream
    sent, theirs = reply["action"], fixture.payload["action"]
    assert {key: value for key, value in sent.items() if key not in ("record", "recordingOptions")} == theirs
    given = fixture.payload.get("instructions", [])
    assert reply.get("instructions", [])[:len(given)] == given  # theirs first, as sent; ours after
