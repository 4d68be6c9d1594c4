import json

import pytest

from app.sinch.svaml import NO_ROUTE_TEXT, render
from tests import payloads
from tests.support import APP_KEY, APP_SECRET, OTHER_KEY, OTHER_SECRET, SinchClient, journal_rows


@pytest.mark.parametrize("payload, action", [
    (payloads.ICE_APP_TO_PHONE, {"name": "connectPstn", "number": "+46855500000"}),
    (payloads.ICE_MXP, {"name": "connectMxp", "destination": {"type": "username", "endpoint": "bob"}}),
    (payloads.ICE_SIP, {"name": "connectSip", "destination": {"type": "sip", "endpoint": "46708000000@sip.example.com"}}),
])
def test_ice_connects_the_dialled_destination_by_type(sinch, payload, action):
    response = sinch.post(payload)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.json == {"action": action}
    assert render(response.json, "ice") == response.json


@pytest.mark.parametrize("payload", [payloads.ACE, payloads.ACE_MACHINE, payloads.ACE_PLAIN,
                                     payloads.PIE, payloads.PIE_SEQUENCE, payloads.PIE_TIMEOUT])
def test_ace_and_pie_continue(sinch, payload):
    response = sinch.post(payload)
    assert response.status_code == 200 and response.json == {"action": {"name": "continue"}}


@pytest.mark.parametrize("payload", [payloads.DICE, payloads.DICE_NOANSWER, payloads.DICE_BUSY, payloads.DICE_FAILED,
                                     payloads.NOTIFY_AVAILABLE, payloads.NOTIFY_FINISHED, payloads.NOTIFY_ERROR])
def test_dice_and_notify_get_an_empty_200(sinch, payload):
    response = sinch.post(payload)
    assert response.status_code == 200 and response.data == b""


def test_every_callback_is_journaled_with_its_verdict_and_reply(app, sinch):
    body = json.dumps(payloads.ICE_PSTN).encode()
    reply = sinch.post(body, headers={"X-Request-Id": "req-42"})
    sinch.post(payloads.DICE)
    SinchClient(sinch.client, secret=OTHER_SECRET).post(payloads.ACE)  # wrong secret
    ice, dice, refused = journal_rows(app)
    assert (ice.event, ice.call_id, ice.signature, ice.status_code, ice.outcome) == (
        "ice", payloads.ICE_PSTN["callid"], "ok", 200, "answered")
    assert ice.body == body and json.loads(ice.reply) == reply.json and ice.request_id == "req-42"
    assert ice.application_key == APP_KEY and ice.path == "/sinch/callback" and ice.handling_ms > 0
    assert ice.content_type == "application/json" and ice.received_at is not None
    assert (dice.event, dice.outcome, dice.reply) == ("dice", "accepted", None)
    assert (refused.signature, refused.status_code, refused.outcome, refused.event) == ("bad_signature", 401, "rejected", None)


def test_the_authorization_header_is_never_stored(app, sinch):
    response = sinch.post(payloads.ICE_PSTN)
    [row] = journal_rows(app)
    signature_value = response.request.headers["Authorization"].split(":")[-1]
    stored = json.dumps({c: str(getattr(row, c)) for c in row.__table__.columns.keys()})
    assert signature_value not in stored and APP_SECRET not in stored and "Application " not in stored


def test_rotation_two_applications_both_accepted(make_app):
    app = make_app(SINCH_APPLICATIONS=f"{OTHER_KEY}:{OTHER_SECRET}")
    client = app.test_client()
    assert SinchClient(client).post(payloads.ACE).status_code == 200
    assert SinchClient(client, OTHER_KEY, OTHER_SECRET).post(payloads.ACE).status_code == 200
    assert [r.application_key for r in journal_rows(app)] == [APP_KEY, OTHER_KEY]


def test_request_id_is_echoed_or_made(sinch):
    assert sinch.post(payloads.ACE, headers={"X-Request-Id": "abc-1"}).headers["X-Request-Id"] == "abc-1"
    made = sinch.post(payloads.ACE, headers={"X-Request-Id": "bad id with spaces"}).headers["X-Request-Id"]
    assert len(made) == 32 and " " not in made


def test_decision_failure_answers_with_the_fallback(app, sinch):
    def broken(event, call):
        raise RuntimeError("rules exploded")
    app.extensions["sinch_recorder"].replier.decide = broken
    response = sinch.post(payloads.ICE_MXP)
    assert response.status_code == 200
    assert response.json == {"action": {"name": "connectMxp", "destination": {"type": "username", "endpoint": "bob"}}}
    assert sinch.post(payloads.ACE).json == {"action": {"name": "continue"}}
    ice, ace = journal_rows(app)
    assert ice.outcome == "fallback" and "rules exploded" in ice.error


def test_an_inbound_call_to_the_app_s_own_number_is_never_connected_back_to_it(app, sinch):
    """ICE_PSTN is an inbound PSTN call: to.type did, the application's own number. connect: dialled
    (the suite's minimal ruleset) has nowhere to go: the caller is told so and hung up on."""
    response = sinch.post(payloads.ICE_PSTN)
    assert response.status_code == 200
    assert response.json == {"instructions": [{"name": "say", "text": NO_ROUTE_TEXT, "locale": "en-US"}],
                             "action": {"name": "hangup"}}
    assert "+12017777777" not in json.dumps(response.json)
    [row] = journal_rows(app)
    assert row.outcome == "answered" and "would call that number again" in row.decision["problem"]


def test_invalid_svaml_from_the_decision_is_never_sent(app, sinch):
    from app.rules.decide import Decision

    not_for_ice = Decision("ice", {"action": {"name": "continue"}})  # continue is not allowed in ICE
    app.extensions["sinch_recorder"].replier.decide = lambda event, call: not_for_ice
    response = sinch.post(payloads.ICE_APP_TO_PHONE)
    assert response.json == {"action": {"name": "connectPstn", "number": "+46855500000"}}
    [row] = journal_rows(app)
    assert row.outcome == "fallback" and "continue is not allowed in a ice reply" in row.error


def test_configured_fallbacks_are_used(make_app):
    fixed = {"instructions": [{"name": "say", "text": "Connecting you."}], "action": {"name": "connectPstn", "number": "+46800000000"}}
    app = make_app(SINCH_FALLBACK_ICE_SVAML=json.dumps(fixed), SINCH_FALLBACK_PIE_SVAML='{"action": {"name": "hangup"}}')
    app.extensions["sinch_recorder"].replier.decide = lambda event, call: 1 / 0
    sinch = SinchClient(app.test_client())
    assert sinch.post(payloads.ICE_SIP).json == fixed
    assert sinch.post(payloads.PIE).json == {"action": {"name": "hangup"}}
    assert sinch.post(payloads.ACE).json == {"action": {"name": "continue"}}


def test_a_bug_in_the_handler_still_answers_ice(app, sinch, monkeypatch):
    from app.callbacks import handler

    def explode(*args, **kwargs):
        raise KeyError("bug")
    monkeypatch.setattr(handler, "_dispatch", explode)
    response = sinch.post(payloads.ICE_APP_TO_PHONE)
    assert response.status_code == 200 and response.json["action"]["name"] == "connectPstn"
    assert sinch.post(payloads.DICE).status_code == 200
    assert [r.outcome for r in journal_rows(app)] == ["fallback", "error"]


def test_unsigned_mode_accepts_and_marks_unchecked(make_app):
    app = make_app(SINCH_VERIFY_SIGNATURES="false")
    response = app.test_client().post("/sinch/callback", json=payloads.ICE_PSTN)
    assert response.status_code == 200
    assert journal_rows(app)[0].signature == "unchecked"


def test_other_methods_and_paths_are_json_errors(app):
    client = app.test_client()
    response = client.get("/sinch/callback")
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"
    response = client.post("/sinch/callbacks")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_log_lines_during_handling_carry_the_call_id(app, sinch, caplog):
    import logging

    from app.callbacks.replies import no_rules

    def chatty(event, call):
        logging.getLogger("app.test").warning("deciding")  # no extra: the request context adds the ids
        return no_rules(event, call)

    app.extensions["sinch_recorder"].replier.decide = chatty
    caplog.set_level(logging.INFO)
    sinch.post(payloads.ICE_SIP, headers={"X-Request-Id": "req-log-1"})
    [line] = [r for r in caplog.records if r.getMessage() == "deciding"]
    assert line.call_id == payloads.ICE_SIP["callid"] and line.request_id == "req-log-1"
