"""Malformed and hostile requests: each gets the right 4xx as JSON, none a 5xx, and the
service keeps answering real callbacks afterwards."""

import base64
import json

import pytest

from app.sinch.signing import sign
from tests import payloads
from tests.support import APP_KEY, APP_SECRET, OTHER_SECRET, journal_rows

ICE = payloads.ICE_PSTN
ICE_BODY = json.dumps(ICE).encode()


def with_(**changes):
    return json.dumps({**ICE, **changes}).encode()


def without(name, payload=ICE):
    return json.dumps({k: v for k, v in payload.items() if k != name}).encode()


def signed_for(body, **kwargs):
    return sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback", body=body, **kwargs)


def raw(client, body, headers):
    return client.post("/sinch/callback", data=body, headers=headers)


# (id, how to send, expected status, expected error code)
SIGNATURE_CASES = [
    ("no-authorization", lambda c: raw(c, ICE_BODY, {"Content-Type": "application/json"}), "missing_authorization"),
    ("empty-authorization", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "Authorization": ""}), "missing_authorization"),
    ("scheme-only", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "Authorization": "Application"}), "malformed_authorization"),
    ("no-colon", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "Authorization": f"Application {APP_KEY}"}), "malformed_authorization"),
    ("basic-scheme", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "Authorization": "Basic " + base64.b64encode(f"{APP_KEY}:{APP_SECRET}".encode()).decode()}), "unsupported_scheme"),
    ("bearer-scheme", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "Authorization": "Bearer abc.def.ghi"}), "unsupported_scheme"),
    ("unknown-key", lambda c: raw(c, ICE_BODY, sign("unknown-app", APP_SECRET, method="POST", path="/sinch/callback", body=ICE_BODY)), "unknown_key"),
    ("wrong-secret", lambda c: raw(c, ICE_BODY, sign(APP_KEY, OTHER_SECRET, method="POST", path="/sinch/callback", body=ICE_BODY)), "bad_signature"),
    ("signature-of-another-body", lambda c: raw(c, ICE_BODY, signed_for(json.dumps(payloads.ICE_SIP).encode())), "bad_signature"),
    ("body-tampered-one-byte", lambda c: raw(c, ICE_BODY.replace(b"+1201", b"+1900"), signed_for(ICE_BODY)), "bad_signature"),
    ("signature-for-another-path", lambda c: raw(c, ICE_BODY, sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback/ice", body=ICE_BODY)), "bad_signature"),
    ("signed-with-other-content-type", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY, content_type="text/plain"), "Content-Type": "application/json"}), "bad_signature"),
    ("signature-truncated", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "Authorization": signed_for(ICE_BODY)["Authorization"][:-6]}), "bad_signature"),
    ("signature-garbage", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "Authorization": f"Application {APP_KEY}:%%%not-base64%%%"}), "bad_signature"),
    ("authorization-10kb", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "Authorization": f"Application {APP_KEY}:" + "A" * 10000}), "bad_signature"),
    ("timestamp-missing", lambda c: raw(c, ICE_BODY, {k: v for k, v in signed_for(ICE_BODY).items() if k != "x-timestamp"}), "missing_timestamp"),
    ("timestamp-garbage", lambda c: raw(c, ICE_BODY, signed_for(ICE_BODY, timestamp="last tuesday")), "bad_timestamp"),
    ("timestamp-stale", lambda c: raw(c, ICE_BODY, signed_for(ICE_BODY, timestamp="2024-06-06T17:20:14Z")), "stale_timestamp"),
    ("timestamp-future", lambda c: raw(c, ICE_BODY, signed_for(ICE_BODY, timestamp="2099-01-01T00:00:00Z")), "stale_timestamp"),
    ("replayed-documented-request", lambda c: raw(c, b'{"event":"ace","callid":"822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257","timestamp":"2014-09-24T10:59:41Z","version":1}', {
        "Content-Type": "application/json", "x-timestamp": "2014-09-24T10:59:41Z",
        "Authorization": f"application {APP_KEY}:Tg6fMyo8mj9pYfWQ9ssbx3Tc1BNC87IEygAfLbJqZb4="}), "stale_timestamp"),
    ("timestamp-swapped-after-signing", lambda c: raw(c, ICE_BODY, {**signed_for(ICE_BODY), "x-timestamp": signed_for(ICE_BODY, timestamp="2030-01-01T00:00:00Z")["x-timestamp"]}), "stale_timestamp"),
]

BODY_CASES = [
    ("empty-body", b"", "empty_body"),
    ("whitespace-body", b"  \n\t ", "empty_body"),
    ("unclosed-object", b"{", "invalid_json"),
    ("truncated-json", ICE_BODY[:-5], "invalid_json"),
    ("trailing-garbage", ICE_BODY + b" extra", "invalid_json"),
    ("single-quotes", b"{'event': 'ice'}", "invalid_json"),
    ("nan-amount", ICE_BODY.replace(b'"amount": 0.0', b'"amount": NaN'), "invalid_callback"),
    ("invalid-utf8", ICE_BODY.replace(b"customData", b"custom\xc3\x28Data"), "invalid_encoding"),
    ("utf16-body", json.dumps(ICE).encode("utf-16"), "invalid_encoding"),
    ("array-body", b"[]", "not_an_object"),
    ("string-body", b'"ice"', "not_an_object"),
    ("number-body", b"42", "not_an_object"),
    ("null-body", b"null", "not_an_object"),
    ("missing-event", without("event"), "invalid_callback"),
    ("event-null", with_(event=None), "invalid_callback"),
    ("event-number", with_(event=7), "unknown_event"),
    ("event-unknown", with_(event="ring"), "unknown_event"),
    ("event-upper-case", with_(event="ICE"), "unknown_event"),
    ("event-huge-string", with_(event="x" * 5000), "unknown_event"),
    ("missing-callid", without("callid"), "invalid_callback"),
    ("callid-number", with_(callid=12345), "invalid_callback"),
    ("callid-empty", with_(callid=""), "invalid_callback"),
    ("callid-too-long", with_(callid="c" * 5000), "invalid_callback"),
    ("to-is-string", with_(to="+12017777777"), "invalid_callback"),
    ("to-type-number", with_(to={"type": 1, "endpoint": "+1"}), "invalid_callback"),
    ("to-endpoint-list", with_(to={"type": "number", "endpoint": ["+1"]}), "invalid_callback"),
    ("version-string", with_(version="1"), "invalid_callback"),
    ("duration-float", with_(duration=1.5), "invalid_callback"),
    ("cli-object", with_(cli={"number": "+1"}), "invalid_callback"),
    ("custom-object", with_(custom={"a": 1}), "invalid_callback"),
    ("timestamp-number", with_(timestamp=1717694414), "invalid_callback"),
    ("domain-list", with_(domain=["pstn"]), "invalid_callback"),
    ("user-rate-string", with_(userRate="0.01 USD"), "invalid_callback"),
    ("user-rate-amount-string", with_(userRate={"currencyId": "USD", "amount": "cheap"}), "invalid_callback"),
    ("call-headers-object", with_(callHeaders={"key": "a", "value": "b"}), "invalid_callback"),
    ("call-header-missing-value", with_(callHeaders=[{"key": "a"}]), "invalid_callback"),
    ("pie-menu-result-list", json.dumps({**payloads.PIE, "menuResult": ["main"]}).encode(), "invalid_callback"),
    ("ace-amd-duration-string", json.dumps({**payloads.ACE, "amd": {"status": "human", "duration": "2"}}).encode(), "invalid_callback"),
    ("notify-without-type", without("type", payloads.NOTIFY_FINISHED), "invalid_callback"),
    ("notify-error-code-string", json.dumps({**payloads.NOTIFY_ERROR, "errorCode": "40001"}).encode(), "invalid_callback"),
    ("dice-debit-number", json.dumps({**payloads.DICE, "debit": 0.02}).encode(), "invalid_callback"),
    ("deeply-nested-array", b'{"event":"ice","callid":"x","deep":' + b"[" * 30000 + b"]" * 30000 + b"}", "too_deep"),
    ("deeply-nested-object", b'{"event":"ice","callid":"x","deep":' + b'{"a":' * 9000 + b"1" + b"}" * 9000 + b"}", "too_deep"),
]


def _ids(cases):
    return [case[0] for case in cases]


@pytest.mark.parametrize("name, send, code", SIGNATURE_CASES, ids=_ids(SIGNATURE_CASES))
def test_bad_signatures_get_401(app, name, send, code):
    response = send(app.test_client())
    assert response.status_code == 401, response.data
    assert response.json["error"]["code"] == code
    assert APP_SECRET not in response.get_data(as_text=True)


@pytest.mark.parametrize("name, body, code", BODY_CASES, ids=_ids(BODY_CASES))
def test_bad_bodies_get_400_naming_the_problem(app, name, body, code):
    response = raw(app.test_client(), body, signed_for(body))
    assert response.status_code == 400, response.data
    error = response.json["error"]
    assert error["code"] == code and error["message"]
    if code == "invalid_callback":
        assert error["fields"] and all(name in error["message"] for name in error["fields"])


@pytest.mark.parametrize("size", [65537, 1024 * 1024])
def test_oversized_bodies_get_413(app, size):
    body = b'{"event":"ice","callid":"x","pad":"' + b"x" * size + b'"}'
    response = raw(app.test_client(), body, signed_for(body))
    assert response.status_code == 413 and response.json["error"]["code"] == "request_entity_too_large"


def test_the_service_keeps_answering_after_the_whole_battery(app, sinch):
    client = app.test_client()
    statuses = [send(client).status_code for _, send, _ in SIGNATURE_CASES]
    statuses += [raw(client, body, signed_for(body)).status_code for _, body, _ in BODY_CASES]
    assert len(statuses) >= 60 and all(400 <= status < 500 for status in statuses)
    assert sinch.post(payloads.ICE_SIP).status_code == 200
    rows = journal_rows(app)
    assert len(rows) == len(statuses) + 1
    assert {row.outcome for row in rows[:-1]} == {"rejected"} and rows[-1].outcome == "answered"
