"""Sensitive input's pure core (app.callbacks.sensitive): which menus are sensitive, what is
redacted, and where a reply pauses and resumes the recording. No server: data in, data out."""

from __future__ import annotations

import json

import pytest

from app.callbacks import sensitive
from app.rules.model import Sensitive
from app.sinch import svaml
from tests.support import SinchClient, journal_rows

POLICY = Sensitive(menus=frozenset({"cvv"}), min_digits=12)
NOW = "2026-12-04T10:00:00+00:00"
UP_OPTIONS = {"destinationUrl": "s3://upstream/{callid}.mp3", "credentials": "UPKEY:upsecret:eu-west-1"}


def menu_reply(*menus, instructions=()):
    return {"instructions": list(instructions), "action": {"name": "runMenu", "menus": list(menus)}} if instructions \
        else {"action": {"name": "runMenu", "menus": list(menus)}}


MAIN_1 = {"id": "main", "maxDigits": 1, "options": [{"dtmf": "1", "action": "return(pay)"}]}
CARD = {"id": "main", "maxDigits": 16}
CVV = {"id": "cvv", "maxDigits": 4}


def pie(menu, value, kind="sequence"):
    return {"event": "pie", "callid": "c", "menu_result": {"menu_id": menu, "type": kind, "value": value}}


@pytest.mark.parametrize("menu, expected", [(MAIN_1, False), (CARD, True), (CVV, True), ({"id": "pin", "maxDigits": 11},
                                                                                          False)])
def test_a_menu_is_sensitive_by_name_or_by_max_digits(menu, expected):
    assert POLICY.covers(menu) is expected
    assert Sensitive(menus=frozenset(), min_digits=0).covers(CARD) is False  # 0: no guess


@pytest.mark.parametrize("event, state, known, expected", [
    (pie("cvv", "737"), None, True, "[redacted: 3 digits]"),                      # named
    (pie("main", "4000056655665556"), None, True, "[redacted: 16 digits]"),       # long enough to be a card
    (pie("main", "42"), {"menus": ["main"]}, True, "[redacted: 2 digits]"),        # opened as sensitive here
    (pie("main", "42"), None, True, None),                                         # an ordinary choice
    (pie("main", "42"), None, False, "[redacted: 2 digits]"),                      # state unknown: redact
    (pie("cvv", "accept", "return"), None, False, None),                           # the app's own word
    (pie("cvv", "", "timeout"), None, True, None),
])
def test_what_is_redacted(event, state, known, expected):
    assert sensitive.redaction(event, POLICY, state, state_known=known) == expected


def test_the_redacted_body_keeps_everything_but_the_digits():
    body = json.dumps({"event": "pie", "callid": "c", "menuResult": {"menuId": "cvv", "type": "sequence",
                                                                      "value": "737", "inputMethod": "dtmf"}}).encode()
    kept = json.loads(sensitive.redacted_body(body, "[redacted: 3 digits]"))
    assert kept["menuResult"] == {"menuId": "cvv", "type": "sequence", "value": "[redacted: 3 digits]",
                                  "inputMethod": "dtmf"} and kept["callid"] == "c"


def test_echoes_of_the_digits_are_scrubbed_however_spaced():
    said = {"instructions": [{"name": "say", "text": "You entered 4000 0566 5566 5556, thanks"},
                             {"name": "setCookie", "key": "card", "value": "4000-0566-5566-5556"}]}
    scrubbed = json.dumps(sensitive.scrub(said, "4000056655665556"))
    assert "5556" not in scrubbed and scrubbed.count("[redacted: 16 digits]") == 2


def names(doc):
    return [i["name"] for i in doc.get("instructions", [])]


def test_a_sensitive_menu_pauses_the_upstream_s_recording_and_its_answer_resumes_it():
    sealer = sensitive.Sealer(b"application secret")
    first = sensitive.guard(menu_reply(MAIN_1, instructions=[svaml.start_recording(UP_OPTIONS)]), "ice", None, POLICY,
                            NOW, seal=sealer.seal)
    assert names(first.svaml) == ["startRecording"] and first.state["upstream"]["running"]
    assert "upsecret" not in json.dumps(first.state)  # sealed: the credentials never in clear
    card = sensitive.guard(menu_reply(CARD), "pie", first.state, POLICY, NOW)
    assert names(card.svaml) == ["stopRecording"] and card.paused == sensitive.UPSTREAM
    assert card.state["paused"]["menu"] == "main" and card.state["menus"] == ["main"]
    assert [c["action"] for c in card.controls] == ["pause"] and card.controls[0]["reason"] == "sensitive input: menu main"
    cvv = sensitive.guard(menu_reply(MAIN_1, CVV), "pie", card.state, POLICY, NOW)  # another sensitive menu: still paused
    assert names(cvv.svaml) == [] and cvv.controls == () and cvv.state["menus"] == ["main", "cvv"]
    opened = lambda who: sealer.unseal(cvv.state["upstream"]["options"])  # noqa: E731
    connect = {"instructions": [svaml.say("Thank you.")], "action": {"name": "connectPstn", "number": "+46855500000"}}
    done = sensitive.guard(connect, "pie", cvv.state, POLICY, NOW, resume_options=opened)
    assert names(done.svaml) == ["say", "startRecording"]  # after the read-back, right before the action
    assert done.svaml["instructions"][1]["options"] == UP_OPTIONS and done.resumed == sensitive.UPSTREAM
    assert done.state["paused"] is None and [c["action"] for c in done.controls] == ["resume"]


def test_a_hang_up_after_the_menu_ends_the_pause_without_recording_again():
    paused = {"menus": ["cvv"], "upstream": None, "paused": {"menu": "cvv", "at": NOW, "by": "rules"}}
    done = sensitive.guard({"action": {"name": "hangup"}}, "pie", paused, POLICY, NOW, resume_options=lambda who: {})
    assert names(done.svaml) == [] and [c["action"] for c in done.controls] == ["stop"]


def test_the_rules_recording_pauses_and_resumes_with_options_of_its_own():
    card = sensitive.guard(menu_reply(CARD), "ace", None, POLICY, NOW, ours_running=True)
    assert names(card.svaml) == ["stopRecording"] and card.paused == sensitive.RULES
    fresh = {"destinationUrl": "s3://ours/c-2.mp3", "credentials": "k:s:r"}
    done = sensitive.guard({"action": {"name": "continue"}}, "pie", card.state, POLICY, NOW,
                           resume_options=lambda who: fresh if who == sensitive.RULES else None)
    assert done.svaml["instructions"] == [svaml.start_recording(fresh)] and done.resumed == sensitive.RULES


def test_nothing_running_or_nothing_sensitive_changes_nothing():
    plain = {"action": {"name": "connectPstn", "number": "+46855500000"}}
    assert sensitive.guard(plain, "ice", None, POLICY, NOW).svaml is plain
    unpaused = sensitive.guard(menu_reply(CARD), "ice", None, POLICY, NOW)  # nothing records: only remembered
    assert names(unpaused.svaml) == [] and unpaused.state["menus"] == ["main"]
    off = Sensitive(menus=frozenset({"cvv"}), pause_recording=False)
    assert names(sensitive.guard(menu_reply(CARD), "ace", None, off, NOW, ours_running=True).svaml) == []


def test_a_flag_recording_cannot_be_paused_and_says_so():
    guarded = sensitive.guard(menu_reply(CARD), "ace", None, POLICY, NOW, ours_running=True, ours_flag=True)
    assert names(guarded.svaml) == [] and "record flag" in guarded.problem and guarded.paused is None
    assert guarded.state["paused"] is None  # nothing to resume after the menu


def test_sealed_options_open_only_with_the_same_secret():
    sealed = sensitive.Sealer(b"one").seal(UP_OPTIONS)
    assert sensitive.Sealer(b"one").unseal(sealed) == UP_OPTIONS and sensitive.Sealer(b"two").unseal(sealed) is None


@pytest.mark.parametrize("body, kept", [
    (b'{"event":"pie","menuResult":{"type":"sequence","value":"4111111111111111"}}', "[redacted: 16 digits]"),
    (b'{"event":"nope","menuResult":{"type":"Sequence","value":12345}}', "[redacted: 5 digits]"),
    (b'{"event":"pie","menuResult":{"type":"return","value":"accept"}}', None),
    (b'not json', None),
])
def test_a_refused_body_keeps_no_keyed_input(body, kept):
    redacted = sensitive.refused_body(body)
    assert (json.loads(redacted)["menuResult"]["value"] if redacted else None) == kept


def test_a_pie_refused_for_its_signature_is_journaled_redacted(make_app):
    app = make_app()
    body = json.dumps({"event": "pie", "callid": "forged", "menuResult": {
        "menuId": "main", "type": "sequence", "value": "4111111111111111"}}).encode()
    refused = app.test_client().post("/sinch/callback", data=body, content_type="application/json",
                                     headers={"Authorization": "Application nobody:c2lnbmF0dXJl",
                                              "x-timestamp": "2026-12-04T10:00:00Z"})
    assert refused.status_code == 401
    [row] = journal_rows(app)
    assert row.redacted and b"4111111111111111" not in row.body and row.outcome == "rejected"


def test_a_pie_whose_handling_failed_is_journaled_redacted(make_app):
    """A bug of ours before the PIE was read against the ruleset: the call gets the fallback, and
    the journal keeps the body as a refused one, its keyed value redacted."""
    app = make_app()

    def broken():
        raise RuntimeError("no ruleset")
    app.extensions["sinch_recorder"].rules = broken
    reply = SinchClient(app.test_client()).post({"event": "pie", "callid": "broken", "version": 1, "menuResult": {
        "menuId": "main", "type": "sequence", "value": "4111111111111111"}})
    assert reply.status_code == 200
    [row] = journal_rows(app)
    assert row.error == "RuntimeError: no ruleset" and row.redacted and b"4111111111111111" not in row.body
