"""Decisions on the shipped example ruleset: every matcher and every action."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from app.rules.decide import ACCEPTED, DECLINED, NO_ANSWER, PENDING, TIMEOUT, UNAVAILABLE, decide, masked
from app.rules.matching import in_sample
from app.rules.schema import load_ruleset
from app.sinch.svaml import render
from tests.processes import ROOT

RULES = load_ruleset(ROOT / "config" / "rules.example.yaml", {})
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm")).astimezone(timezone.utc)
SUNDAY_10 = datetime(2026, 11, 29, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm")).astimezone(timezone.utc)
DEMO_S3_CREDENTIALS = "demo-write:demo-write-secret:us-east-1"


def ice(to, cli="+46701111111", to_type="number", domain="pstn", callid="call-1", **extra):
    event = {"event": "ice", "callid": callid, "cli": cli, "to": {"type": to_type, "endpoint": to},
             "domain": domain, "origination_type": domain.upper(), **extra}
    return event


def decided(event, now=MONDAY_10, call=None):
    decision = decide(event, RULES, now, call, new_id=lambda: "u1")
    assert render(decision.svaml, event["event"]) == decision.svaml  # always valid SVAML
    return decision


def sampled_call(percent=50, rule="sales-consent", inside=True):
    return next(f"c{i}" for i in range(1000) if in_sample(percent, rule, f"c{i}")[0] is inside)


def test_support_line_in_office_hours_announces_then_records():
    decision = decided(ice("+46812345999"))
    assert decision.rule_id == "support-line"
    assert decision.matched == {"to": "+4681234*", "hours": "mon-fri 08:00-18:00 Europe/Stockholm"}
    say, start = decision.svaml["instructions"]
    assert say["name"] == "say" and start["name"] == "startRecording"  # the announcement is not recorded
    options = start["options"]
    assert options == {"destinationUrl": "s3://demo-recordings/calls/2026/11/23/call-1-1.wav",
                       "credentials": DEMO_S3_CREDENTIALS, "format": "wav", "notificationEvents": True,
                       "transcriptionOptions": {"enabled": True, "locale": "en-US"}}
    assert decision.svaml["action"] == {"name": "connectPstn", "number": "+46855500000", "maxDuration": 3600,
                                        "dialTimeout": 30, "cli": "+46812345678"}
    [recording] = decision.recordings
    assert (recording.url, recording.format, recording.segment, recording.mode) == (
        options["destinationUrl"], "wav", 1, "instruction")


def test_support_line_exact_number_and_outside_hours():
    assert decided(ice("+46812345678")).rule_id == "support-line"
    decision = decided(ice("+46812345678"), now=SUNDAY_10)
    assert decision.rule_id == "default" and decision.recordings == ()
    assert decision.svaml == {"action": {"name": "connectPstn", "number": "+46812345678"}}


def test_consent_is_asked_only_for_the_sample():
    asked = decided(ice("+46701234567", callid=sampled_call()))
    assert asked.rule_id == "sales-consent" and asked.consent == PENDING and asked.recordings == ()
    menu = asked.svaml["action"]
    assert menu["name"] == "runMenu" and menu["menus"][0]["mainPrompt"] == "#tts[Press 1 to allow recording of this call.]"
    assert {"dtmf": "1", "action": "return(accept)"} in menu["menus"][0]["options"]
    skipped = decided(ice("+46701234567", callid=sampled_call(inside=False)))
    assert skipped.rule_id == "default"
    assert decided(ice("+46709912345", callid=sampled_call())).rule_id == "default"  # the negated sub-range


@pytest.mark.parametrize("result, consent, records", [
    ({"menuId": "main", "type": "return", "value": "accept", "inputMethod": "dtmf"}, ACCEPTED, True),
    ({"menuId": "main", "type": "return", "value": "decline", "inputMethod": "dtmf"}, DECLINED, False),
    ({"menuId": "main", "type": "timeout", "value": "", "inputMethod": "dtmf"}, TIMEOUT, False),
    ({"menuId": "main", "type": "hangup"}, NO_ANSWER, False),
    ({"menuId": "main", "type": "sequence", "value": "7", "inputMethod": "dtmf"}, DECLINED, False),
])
def test_consent_answer_decides_the_recording(result, consent, records):
    callid = sampled_call()
    asked = decided(ice("+46701234567", callid=callid))
    pie = {"event": "pie", "callid": callid, "timestamp": "2026-11-23T09:00:05Z",
           "menu_result": {"menu_id": result.get("menuId"), "type": result.get("type"), "value": result.get("value"),
                           "input_method": result.get("inputMethod")}}
    answer = decided(pie, call=asked.call_state())
    assert answer.consent == consent and answer.rule_id == "sales-consent"
    assert answer.consent_evidence["type"] == result["type"] and answer.consent_evidence["timestamp"] == "2026-11-23T09:00:05Z"
    assert answer.svaml["action"] == {"name": "connectPstn", "number": "+46701234567"}
    assert bool(answer.recordings) is records
    if records:
        [start] = answer.svaml["instructions"]
        assert start["options"]["destinationUrl"] == f"gs://demo-recordings/2026-11/sales-consent/{callid}-1.mp3"
        assert start["options"]["transcriptionOptions"] == {"enabled": True, "locale": "en-US"}  # destination default


def test_conference_recording_from_a_call_header():
    decision = decided(ice("bob", cli="alice", to_type="username", domain="mxp",
                           call_headers=[{"key": "X-Room", "value": "standup"}]))
    assert decision.rule_id == "rooms" and decision.matched["header.x-room"] == "*"
    action = decision.svaml["action"]
    assert action["name"] == "connectConf" and action["conferenceId"] == "room-standup" and action["record"] is True
    assert action["recordingOptions"]["destinationUrl"] == "azure://devstoreaccount1/recordings/call-1/1-u1.wav"
    assert "instructions" not in decision.svaml
    assert decision.recordings[0].conference_id == "room-standup" and decision.recordings[0].mode == "conference"


def test_app_calls_record_with_the_flag():
    decision = decided(ice("bob", cli="alice", to_type="username", domain="mxp"))
    assert decision.rule_id == "app-calls" and decision.matched == {"origin": "app", "to.type": "username"}
    assert decision.svaml["action"]["name"] == "connectMxp" and decision.svaml["action"]["record"] is True
    assert decision.recordings[0].mode == "flag"


def test_partner_sip_matches_cli_type_custom_and_hours():
    sip = ice("4930123@sip.partner.example", cli="+4930555", to_type="sip", custom="crm-42")
    decision = decided(sip)
    assert decision.rule_id == "partner-sip"
    assert decision.svaml["action"] == {"name": "connectSip", "destination": {"type": "sip", "endpoint": "4930123@sip.partner.example"}}
    assert decision.svaml["instructions"][0]["name"] == "startRecording"
    assert decided({**sip, "custom": "no-record"}).rule_id == "default"
    assert decided(sip, now=datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc)).rule_id == "default"


def test_blocked_callers_are_hung_up():
    decision = decided(ice("+46812345678", cli="+19005551234"), now=SUNDAY_10)
    assert decision.rule_id == "blocked" and decision.svaml == {"action": {"name": "hangup"}}


def test_callouts_record_on_answer_but_never_twice():
    ace = {"event": "ace", "callid": "out-1", "application_key": "k"}
    callout = decided(ace)
    assert callout.rule_id == "callouts-on-answer" and callout.svaml["action"] == {"name": "continue"}
    assert callout.svaml["instructions"][0]["name"] == "startRecording"
    recorded_inbound = decided(ice("+46812345999"))
    again = decided({**ace, "callid": "call-1"}, call=recorded_inbound.call_state())
    assert again.recordings == () and again.svaml == {"action": {"name": "continue"}}
    plain_inbound = decided(ice("+46812345678"), now=SUNDAY_10)
    assert decided({**ace, "callid": "call-1"}, call=plain_inbound.call_state()).rule_id is None


@pytest.mark.parametrize("verdict, recorded", [
    ("human", True), ("notsure", True), (None, True), ("HUMAN", True),
    ("machine", False), ("hangup", False), ("inprogress", False),
])
def test_a_callout_answered_by_a_machine_is_not_recorded(verdict, recorded):
    ace = {"event": "ace", "callid": "out-2", "application_key": "k"}
    if verdict is not None:
        ace["amd"] = {"status": verdict, "reason": "longgreeting", "duration": 4}
    decision = decided(ace)
    assert bool(decision.recordings) is recorded, decision.matched
    assert (decision.rule_id == "callouts-on-answer") is recorded
    assert decision.svaml["action"] == {"name": "continue"}


def test_consent_cannot_be_asked_on_app_legs():
    from app.rules.schema import parse_ruleset

    rules = parse_ruleset("""
version: 1
destinations: {d: {url: 's3://b/{uuid}', sinch_credentials: '${K}:${S}:r'}}
rules:
  - id: ask
    record: {destination: d, consent: {prompt: Press 1}}
""", {"K": "k", "S": "s"})
    decision = decide(ice("bob", to_type="username", domain="mxp"), rules, MONDAY_10)
    assert decision.consent == UNAVAILABLE and decision.recordings == ()
    assert decision.svaml["action"]["name"] == "connectMxp"


def test_keys_are_unique_per_call_and_hold_no_caller_tricks():
    one = decided(ice("+46812345999", callid="a/../../etc"))
    assert one.recordings[0].url == "s3://demo-recordings/calls/2026/11/23/a_.._.._etc-1.wav"
    two = decided(ice("+46812345999", callid="b"))
    assert one.recordings[0].url != two.recordings[0].url


def test_masked_hides_every_credential():
    for event in (ice("+46812345999"), ice("bob", cli="alice", to_type="username", domain="mxp")):
        shown = masked(decided(event).svaml)
        text = str(shown)
        assert "demo-write-secret" not in text and "Eby8vdM02" not in text and "***" in text


def test_the_recording_part_is_the_recording_the_reply_starts():
    from itertools import count

    from app.rules.schema import parse_ruleset

    rules = parse_ruleset("""
version: 1
destinations: {d: {url: 's3://b/{uuid}.{format}', sinch_credentials: '${K}:${S}:r'}}
rules:
  - id: all
    record: {destination: d}
""", {"K": "k", "S": "s"})
    ids = count()
    decision = decide(ice("+46812345678"), rules, MONDAY_10, new_id=lambda: f"u{next(ids)}")
    assert decision.part.url == decision.recordings[0].url == "s3://b/u0.mp3"  # one key, built once
