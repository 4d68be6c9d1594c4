import json

import pytest

from app.sinch.events import CallbackError, parse_callback
from tests import payloads


def parse(data) -> dict:
    return parse_callback(json.dumps(data).encode())


@pytest.mark.parametrize("payload", [payloads.ICE_PSTN, payloads.ICE_APP_TO_PHONE, payloads.ICE_MXP, payloads.ICE_SIP])
def test_ice_payloads_load(payload):
    event = parse(payload)
    assert event["event"] == "ice" and event["callid"] == payload["callid"]
    assert event["to"] == payload["to"]


def test_ice_fields_get_python_names():
    event = parse(payloads.ICE_PSTN)
    assert event["call_resource_url"].endswith(payloads.ICE_PSTN["callid"])
    assert event["user_rate"] == {"currency_id": "USD", "amount": 0.0}
    assert event["origination_type"] == "PSTN" and event["application_key"].startswith("669E")


def test_call_headers_nested():
    assert parse(payloads.ICE_MXP)["call_headers"][0] == {"key": "x-room", "value": "standup"}


def test_ace_dice_pie_notify_load():
    assert parse(payloads.ACE)["amd"] == {"status": "human", "reason": "n/a", "duration": 2}
    dice = parse(payloads.DICE)
    assert dice["from_"] == "12015555555" and dice["debit"]["amount"] == pytest.approx(0.0244)
    assert parse(payloads.PIE)["menu_result"] == {"menu_id": "main", "type": "return", "value": "accept", "input_method": "dtmf"}
    assert parse(payloads.NOTIFY_AVAILABLE)["destination"].startswith("azure://")
    error = parse(payloads.NOTIFY_ERROR)
    assert error["error_code"] == 40001 and error["error_msg"] == "Illegal SVAML"


def test_camel_case_call_id_is_accepted():
    payload = {k: v for k, v in payloads.ACE.items() if k != "callid"} | {"callId": "abc"}
    assert parse(payload)["callid"] == "abc"


def test_unknown_fields_are_kept_at_every_level():
    payload = {**payloads.ICE_PSTN, "newField": {"deep": [1, 2]}, "to": {**payloads.ICE_PSTN["to"], "extra": "x"}}
    event = parse(payload)
    assert event["newField"] == {"deep": [1, 2]} and event["to"]["extra"] == "x"


@pytest.mark.parametrize("payload, field", [
    ({**payloads.ICE_PSTN, "to": "+4612345"}, "to"),
    ({**payloads.ICE_PSTN, "to": {"type": 5, "endpoint": "+1"}}, "to.type"),
    ({**payloads.ICE_PSTN, "version": "1"}, "version"),
    ({**payloads.ICE_MXP, "callHeaders": [{"key": "a"}]}, "callHeaders[0].value"),
    ({**payloads.DICE, "duration": 1.5}, "duration"),
    ({**payloads.PIE, "menuResult": {"menuId": ["main"]}}, "menuResult.menuId"),
    ({k: v for k, v in payloads.ACE.items() if k != "callid"}, "callid"),
    ({k: v for k, v in payloads.NOTIFY_FINISHED.items() if k != "type"}, "type"),
    ({**payloads.NOTIFY_ERROR, "errorCode": "40001"}, "errorCode"),
])
def test_wrong_types_name_the_field(payload, field):
    with pytest.raises(CallbackError) as caught:
        parse(payload)
    assert caught.value.status == 400 and field in caught.value.fields
    assert field in caught.value.message


@pytest.mark.parametrize("raw, code", [
    (b"", "empty_body"),
    (b"{", "invalid_json"),
    (b"\xff\xfe{}", "invalid_encoding"),
    (b"[1, 2]", "not_an_object"),
    (b'"ice"', "not_an_object"),
    (b'{"callid": "x"}', "invalid_callback"),
    (b'{"event": "ring", "callid": "x"}', "unknown_event"),
    (b"[" * 50000 + b"]" * 50000, "too_deep"),
])
def test_bodies_that_are_not_callbacks(raw, code):
    with pytest.raises(CallbackError) as caught:
        parse_callback(raw)
    assert caught.value.status == 400 and caught.value.code == code
