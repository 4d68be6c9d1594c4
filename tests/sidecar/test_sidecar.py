"""Sidecar mode with a real upstream that checks its own signatures."""

import json

import pytest
from prometheus_client import REGISTRY

from app.db import db
from app.recordings.models import Call, Recording
from app.settings import SettingsError
from tests.processes import Served, eventually
from tests.sidecar.upstream_app import PATH, RULES, create_upstream
from tests.support import APP_KEY, APP_SECRET, SinchClient, journal_rows


@pytest.fixture
def upstream():
    app = create_upstream(APP_KEY, APP_SECRET)
    served = Served(app)
    served.received, served.scripted = app.received, app.scripted
    yield served
    served.close()


# The sidecar's budget for the upstream's answer here: wide, so that a busy CI machine answers
# every quick flow in time; the slow flows (``SLOW_SECONDS``) are well past it.
BUDGET_MS = 1500


@pytest.fixture
def sidecar(make_app, upstream, tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), UPSTREAM_CALLBACK_URL=upstream.url + PATH,
                   UPSTREAM_TIMEOUT_MS=str(BUDGET_MS))
    app.sinch = SinchClient(app.test_client())
    return app


def ice(callid, to):
    return {"event": "ice", "callid": callid, "cli": "+46701111111", "to": {"type": "number", "endpoint": to},
            "domain": "pstn", "originationType": "PSTN", "version": 1}


def recordings(app, callid):
    with app.app_context():
        return list(db.session.scalars(db.select(Recording).where(Recording.call_id == callid)))


def counter(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_upstream_flow_stays_and_recording_is_added_before_its_action(sidecar, upstream):
    body = json.dumps(ice("c1", "+46811111111")).encode()
    reply = sidecar.sinch.post(body).json
    assert reply["action"] == {"name": "connectPstn", "number": "+46855599999", "cli": "+46811111111"}
    names = [i["name"] for i in reply["instructions"]]
    assert names == ["say", "say", "startRecording"]  # upstream's prompt, our announcement, then recording
    assert reply["instructions"][0]["text"] == "Welcome to Acme."
    assert reply["instructions"][2]["options"]["destinationUrl"] == "s3://recordings/c1-1.mp3"
    [(event, callid, verdict, forwarded)] = upstream.received
    assert (event, callid, verdict) == ("ice", "c1", "ok") and forwarded == body  # original body, re-signed
    [row] = journal_rows(sidecar)
    assert row.upstream["outcome"] == "ok" and row.upstream["reply"]["action"]["number"] == "+46855599999"
    assert row.upstream["merge"] == "startRecording before connectPstn"
    assert json.loads(row.reply)["instructions"][2]["options"]["credentials"] == "***"
    [recording] = recordings(sidecar, "c1")
    assert recording.status == "requested" and recording.rule_id == "record-all"


def test_an_ivr_reaches_the_upstream_through_pie_and_recording_starts_on_connect(sidecar, upstream):
    menu = sidecar.sinch.post(ice("c2", "+46822222222")).json
    assert menu["action"]["name"] == "runMenu" and "instructions" not in menu  # nothing recorded during the menu
    assert recordings(sidecar, "c2") == []
    connected = sidecar.sinch.post({"event": "pie", "callid": "c2", "version": 1, "menuResult": {
        "menuId": "main", "type": "return", "value": "support", "inputMethod": "dtmf"}}).json
    assert connected["action"]["name"] == "connectSip"
    assert [i["name"] for i in connected["instructions"]] == ["say", "startRecording"]
    assert len(recordings(sidecar, "c2")) == 1
    ace = sidecar.sinch.post({"event": "ace", "callid": "c2", "version": 1}).json
    assert ace == {"action": {"name": "continue"}}  # never a second recording
    assert len(recordings(sidecar, "c2")) == 1
    assert [e for e, *_ in upstream.received] == ["ice", "pie", "ace"]


def test_an_upstream_that_records_itself_is_not_recorded_twice(sidecar):
    reply = sidecar.sinch.post(ice("c3", "+46833333333")).json
    assert [i["name"] for i in reply["instructions"]] == ["startRecording"]
    assert reply["instructions"][0]["options"]["destinationUrl"] == "s3://upstream-own-bucket/{callid}.mp3"
    assert recordings(sidecar, "c3") == []
    assert journal_rows(sidecar)[0].upstream["merge"] == "the upstream already records this call; nothing added"


def test_conference_and_app_calls_get_the_record_flag(sidecar):
    room = sidecar.sinch.post(ice("c4", "+46877777777")).json
    assert room["action"]["name"] == "connectConf" and room["action"]["record"] is True
    [recording] = recordings(sidecar, "c4")
    assert recording.mode == "conference" and recording.conference_id == "upstream-room"
    app_call = sidecar.sinch.post(ice("c5", "+46888888888")).json
    assert app_call["action"]["name"] == "connectMxp" and app_call["action"]["record"] is True
    assert [i["name"] for i in app_call.get("instructions", [])] == ["say"]


def test_a_card_menu_after_an_app_call_recorded_with_the_flag_is_not_falsely_paused(sidecar, upstream, caplog):
    """The merge records the upstream's connectMxp with the record flag, which no stopRecording
    ends: a card menu the upstream's ACE reply opens gets no stopRecording (nor a second recording
    after it), and the log says the menu is recorded."""
    sidecar.sinch.post(ice("m1", "+46888888888"))
    upstream.scripted["m1"] = {"action": {"name": "runMenu", "menus": [
        {"id": "main", "mainPrompt": "#tts[Key your card number]", "maxDigits": 16}]}}
    reply = sidecar.sinch.post({"event": "ace", "callid": "m1", "version": 1}).json
    assert reply == upstream.scripted["m1"]
    assert any("the record flag on the action cannot be stopped by SVAML: menu main is recorded" in r.getMessage()
               for r in caplog.records)
    after = sidecar.sinch.post({"event": "pie", "callid": "m1", "version": 1, "menuResult": {
        "menuId": "main", "type": "sequence", "value": "4111111111111111", "inputMethod": "dtmf"}})
    assert "startRecording" not in after.get_data(as_text=True) and len(recordings(sidecar, "m1")) == 1


def test_upstream_only_and_off(sidecar, upstream):
    untouched = sidecar.sinch.post(ice("c6", "+46899999999")).json
    assert untouched == {"action": {"name": "connectPstn", "number": "+46855599990"}}
    alone = sidecar.sinch.post(ice("c7", "+46800000000")).json
    assert alone == {"action": {"name": "connectPstn", "number": "+46812340000"}}
    assert [callid for _, callid, *_ in upstream.received] == ["c6"]  # off: the upstream never saw c7


@pytest.mark.parametrize("to, outcome", [
    ("+46844444444", "timeout"), ("+46855555555", "http_error"), ("+46866666666", "invalid_svaml"),
])
def test_upstream_failures_answer_with_the_fallback_and_still_record(sidecar, to, outcome):
    before = counter("sinch_upstream_requests_total", event="ice", outcome=outcome)
    response = sidecar.sinch.post(ice("f1", to))
    assert response.status_code == 200
    reply = response.json
    assert reply["action"] == {"name": "connectPstn", "number": to}  # the fallback: connect the dialled number
    assert [i["name"] for i in reply["instructions"]] == ["say", "startRecording"]  # recording still applied
    assert counter("sinch_upstream_requests_total", event="ice", outcome=outcome) == before + 1
    [row] = journal_rows(sidecar)
    assert row.upstream["outcome"] == outcome and row.upstream["reply"] is None and row.outcome == "answered"


def test_an_unreachable_upstream_answers_with_the_fallback(sidecar, upstream):
    upstream.close()
    response = sidecar.sinch.post(ice("f2", "+46811111111"))
    assert response.status_code == 200 and response.json["action"]["name"] == "connectPstn"
    assert journal_rows(sidecar)[0].upstream["outcome"] == "unreachable"


def test_dice_and_notify_are_handled_here_and_passed_on(sidecar, upstream):
    sidecar.sinch.post(ice("c8", "+46811111111"))
    assert sidecar.sinch.post({"event": "dice", "callid": "c8", "reason": "CALLERHANGUP", "result": "ANSWERED",
                               "version": 1}).status_code == 200
    assert sidecar.sinch.post({"event": "notify", "callid": "c8", "version": 1, "type": "recording_finished",
                               "destination": "s3://recordings/c8-1.mp3"}).status_code == 200
    eventually(lambda: [e for e, *_ in upstream.received] == ["ice", "dice", "notify"], "the upstream to hear all")
    assert all(verdict == "ok" for _, _, verdict, _ in upstream.received)
    assert recordings(sidecar, "c8")[0].status == "finished"
    with sidecar.app_context():
        assert db.session.get(Call, "c8").end_reason == "CALLERHANGUP"


def test_consent_needs_upstream_off_in_sidecar_mode(make_app, upstream, tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES.replace(
        "    record: {destination: store, announce:", "    record: {destination: store, consent: {prompt: Press 1}, announce:"))
    with pytest.raises(SettingsError, match="consent needs upstream: off"):
        make_app(RULES_FILE=str(tmp_path / "rules.yaml"), UPSTREAM_CALLBACK_URL=upstream.url + PATH,
                 INSTANCE_PATH=str(tmp_path / "no-last-good-copy"))


def test_the_record_flag_needs_pausing_off_in_sidecar_mode(make_app, upstream, tmp_path):
    """The upstream may open a card menu once a call is connected, and nothing can pause a
    recording made with the record flag: the ruleset says so, or the service refuses it."""
    (tmp_path / "rules.yaml").write_text(RULES.replace(", sensitive: {pause_recording: false}}", "}"))
    with pytest.raises(SettingsError, match=r"rules\[3\]\.record\.mode: mode: conference records with the "
                                            r"action's record flag, which cannot be paused for sensitive input"):
        make_app(RULES_FILE=str(tmp_path / "rules.yaml"), UPSTREAM_CALLBACK_URL=upstream.url + PATH,
                 INSTANCE_PATH=str(tmp_path / "no-last-good-copy"))
    guess_off = RULES.replace(", sensitive: {pause_recording: false}}", "}").replace(
        "rules:\n", "sensitive: {min_digits: 0}\nrules:\n", 1)  # nothing is sensitive: nothing to pause
    (tmp_path / "rules.yaml").write_text(guess_off)
    assert make_app(RULES_FILE=str(tmp_path / "rules.yaml"), UPSTREAM_CALLBACK_URL=upstream.url + PATH)


def test_explain_shows_the_merge_for_a_stored_call(sidecar, tmp_path):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from app.rules.cli import cli

    sidecar.sinch.post(ice("x1", "+46811111111"))
    info = ScriptInfo(create_app=lambda: sidecar)
    same = CliRunner().invoke(cli, ["explain", "--call", "x1", "--rules", str(tmp_path / "rules.yaml")], obj=info)
    assert same.exit_code == 0, same.output
    assert "upstream replied:" in same.output and "+46855599999" in same.output
    assert "merge: startRecording before connectPstn" in same.output and "0 of 1 replies would change" in same.output
    draft = tmp_path / "draft.yaml"
    draft.write_text((tmp_path / "rules.yaml").read_text().replace(
        '    record: {destination: store, announce: {say: "This call is recorded."}}', "    record: false"))
    changed = CliRunner().invoke(cli, ["explain", "--call", "x1", "--rules", str(draft)], obj=info)
    assert "merge: nothing to add" in changed.output and "1 of 1 replies would change" in changed.output


def test_keys_the_service_does_not_know_are_passed_on_as_the_upstream_sent_them(sidecar, upstream):
    reply = sidecar.sinch.post(ice("k1", "+46813131313")).json
    action = reply["action"]
    assert action["callheaders"] == [{"key": "crm", "value": "42"}] and action["futureOption"] is True
    assert action["record"] is True and action["recordingOptions"]["destinationUrl"] == "s3://recordings/k1-1.mp3"
    assert journal_rows(sidecar)[0].upstream["outcome"] == "ok"


def test_an_ace_rule_s_own_recording_is_merged_into_the_upstream_s_ace_reply(sidecar, upstream):
    """A callout the application placed (no ICE): the callouts-on-answer rule records it."""
    reply = sidecar.sinch.post({"event": "ace", "callid": "out-1", "version": 1, "applicationKey": APP_KEY}).json
    assert reply["action"] == {"name": "continue"}  # the upstream's own ACE answer
    assert [i["name"] for i in reply["instructions"]] == ["startRecording"]
    [recording] = recordings(sidecar, "out-1")
    assert recording.rule_id == "callouts-on-answer" and recording.status == "requested"


def test_an_upstream_that_trickles_its_body_is_cut_at_the_deadline(sidecar, upstream):
    """The budget (1.5 s here) is a deadline over the whole exchange: headers at once and the body
    in ten pieces over five seconds is a timeout, and the fallback answers with the recording."""
    reply = sidecar.sinch.post(ice("t1", "+46812121212")).json
    assert reply["action"] == {"name": "connectPstn", "number": "+46812121212"}  # the fallback
    assert [i["name"] for i in reply["instructions"]] == ["say", "startRecording"]
    [row] = journal_rows(sidecar)
    assert row.upstream["outcome"] == "timeout", row.upstream  # read whole, it would have been "ok"
