import pytest

from app.sinch import svaml as s
from app.sinch.svaml import ACTIONS_ALLOWED, SvamlError, render

S3 = s.recording_options("s3://acme-rec/calls/c1-1.mp3", "AKIAKEY:secret/key:eu-central-1", format="mp3")
AZURE_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
AZURE = s.recording_options("azure://acmestore/recordings/c1.wav", AZURE_KEY, format="wav")
GCS = s.recording_options("gs://acme-rec/c1.mp3", "GOOGKEY:hmacsecret", transcription_locale="en-US")

ACTION_EXAMPLES = {
    "hangup": s.hangup(),
    "continue": s.continue_(),
    "connectPstn": s.connect_pstn("+46855500000", cli="+46812345678", max_duration=3600, dial_timeout=30),
    "connectMxp": s.connect_mxp("bob", call_headers=[{"key": "x-room", "value": "a"}]),
    "connectConf": s.connect_conf("room-1", moh="music1"),
    "connectSip": s.connect_sip("46708000000@sip.example.com", transport="TLS"),
    "connectStream": s.connect_stream("wss://stream.example.com/audio", sample_rate=16000),
    "runMenu": s.run_menu(s.menu("main", s.tts("Press 1"), s.menu_option("1", "return(accept)")), locale="en-US"),
    "park": s.park(intro_prompt=s.tts("Please hold"), hold_prompt=s.tts("Still holding"), max_duration=600),
}


def test_builders_read_like_the_document():
    doc = s.svaml(
        s.connect_pstn("+46855500000", cli="+46812345678"),
        s.say("This call is recorded.", locale="en-US"),
        s.start_recording(S3),
    )
    assert doc == {
        "instructions": [
            {"name": "say", "text": "This call is recorded.", "locale": "en-US"},
            {"name": "startRecording", "options": {
                "destinationUrl": "s3://acme-rec/calls/c1-1.mp3",
                "credentials": "AKIAKEY:secret/key:eu-central-1", "format": "mp3"}},
        ],
        "action": {"name": "connectPstn", "number": "+46855500000", "cli": "+46812345678"},
    }
    assert render(doc, "ice") == doc


@pytest.mark.parametrize("callback", ["ice", "ace", "pie", "manage"])
@pytest.mark.parametrize("action", sorted(ACTION_EXAMPLES))
def test_action_allowed_per_callback_table(callback, action):
    doc = s.svaml(ACTION_EXAMPLES[action])
    if action in ACTIONS_ALLOWED[callback]:
        assert render(doc, callback)["action"]["name"] == action
    else:
        with pytest.raises(SvamlError) as caught:
            render(doc, callback)
        assert "action.name" in caught.value.problems


def test_every_instruction_renders_in_ice():
    doc = s.svaml(s.connect_pstn(), s.answer(), s.play_files(s.tts("hi"), "https://x/y.wav", locale="en-US"),
                  s.say("hello"), s.send_dtmf("12w#"), s.set_cookie("k", "v"), s.stop_recording(),
                  s.start_recording(GCS))
    assert [i["name"] for i in render(doc, "ice")["instructions"]] == [
        "answer", "playFiles", "say", "sendDtmf", "setCookie", "stopRecording", "startRecording"]


@pytest.mark.parametrize("instruction, callback", [(s.send_dtmf("1"), "ace"), (s.answer(), "ace"), (s.answer(), "pie")])
def test_instructions_refused_where_the_platform_refuses_them(instruction, callback):
    with pytest.raises(SvamlError, match="not allowed"):
        render(s.svaml(s.continue_(), instruction), callback)


def test_record_flag_on_conference_and_each_scheme():
    for options in (S3, AZURE, GCS):
        doc = s.svaml(s.connect_conf("room-1", recording=options))
        assert render(doc, "ice")["action"]["record"] is True


def test_recording_instructions_refused_with_connect_mxp():
    with pytest.raises(SvamlError, match="connectMxp"):
        render(s.svaml(s.connect_mxp("bob"), s.start_recording(S3)), "ice")
    with pytest.raises(SvamlError, match="connectMxp"):
        render(s.svaml(s.connect_mxp("bob"), s.stop_recording()), "ice")
    assert render(s.svaml(s.connect_mxp("bob", recording=S3)), "ice")["action"]["record"] is True


@pytest.mark.parametrize("doc, path", [
    (s.svaml(s.connect_pstn(), s.say("x" * 601)), "instructions[0].text"),
    (s.svaml(s.connect_pstn(max_duration=14401)), "action.maxDuration"),
    (s.svaml(s.connect_sip("a@b", max_duration=20000)), "action.maxDuration"),
    (s.svaml(s.park(max_duration=601)), "action.maxDuration"),
    (s.svaml(s.connect_conf("r" * 65)), "action.conferenceId"),
    (s.svaml(s.connect_pstn(dtmf="12x")), "action.dtmf"),
    (s.svaml(s.connect_pstn(indications="xx")), "action.indications"),
    (s.svaml(s.connect_pstn(), s.start_recording({**S3, "format": "ogg"})), "instructions[0].options.format"),
    (s.svaml(s.connect_pstn(), s.start_recording({**S3, "destinationUrl": "ftp://x/y"})), "instructions[0].options.destinationUrl"),
    (s.svaml(s.connect_pstn(), s.start_recording({**S3, "credentials": "onlykey"})), "instructions[0].options.credentials"),
    (s.svaml(s.connect_pstn(), s.start_recording({**GCS, "credentials": "a:b:c"})), "instructions[0].options.credentials"),
    (s.svaml(s.connect_pstn(), s.start_recording({**AZURE, "credentials": "not base64!"})), "instructions[0].options.credentials"),
    (s.svaml(s.connect_pstn(), s.start_recording({**AZURE, "destinationUrl": "azure://onlyaccount"})), "instructions[0].options.destinationUrl"),
    (s.svaml(s.connect_pstn(), s.start_recording({**S3, "notificationEvents": "yes"})), "instructions[0].options.notificationEvents"),
    (s.svaml(s.connect_conf("r", recording=None) | {"record": True}), "action.recordingOptions"),
    (s.svaml(s.run_menu(s.menu("first", "#tts[x]"))), "action.menus"),
    (s.svaml(s.run_menu(s.menu("main", "#tts[x]", s.menu_option("1", "menu(nowhere)")))), "action.menus"),
    (s.svaml(s.run_menu(s.menu("main", "#tts[x]", s.menu_option("1", "jump(x)")))), "action.menus[0].options[0].action"),
    (s.svaml(s.run_menu(s.menu("main", "#tts[x]"), main_menu="other")), "action.mainMenu"),
    (s.svaml(s.connect_pstn(), s.set_cookie("k", "v" * 1100)), "instructions"),
    (s.svaml(s.connect_pstn(), s.start_recording(S3), s.start_recording(GCS)), "instructions"),
    (s.svaml(s.connect_pstn(recording=S3), s.start_recording(GCS)), "action.record"),
    (s.svaml(s.hangup() | {"record": True, "recordingOptions": S3}), "action.record"),
    ({"action": {"name": "connectPSTN"}}, "action.name"),
    ({"instructions": [{"name": "say", "text": "x"}]}, "action"),
    ({"action": {"name": "hangup"}, "extra": 1}, "extra"),
    ({"action": {"name": "connectPstn", "numbr": "+1"}}, "action.numbr"),
    (s.svaml(s.connect_mxp(call_headers=[{"key": "k", "value": "v" * 1025}])), "action.callHeaders[0].value"),
])
def test_what_sinch_would_reject_is_refused(doc, path):
    with pytest.raises(SvamlError) as caught:
        render(doc, "ice")
    assert path in caught.value.problems, caught.value.problems


def test_credentials_never_appear_in_errors():
    bad = {**S3, "credentials": "AKIASECRET:topsecret"}
    with pytest.raises(SvamlError) as caught:
        render(s.svaml(s.connect_pstn(), s.start_recording(bad)), "ice")
    assert "topsecret" not in str(caught.value)


def test_amd_async_key_round_trips():
    doc = s.svaml(s.connect_pstn("+1", amd={"enabled": True, "async": True}))
    assert render(doc, "ice")["action"]["amd"] == {"enabled": True, "async": True}


def test_say_at_the_limit_and_cookies_at_the_limit_pass():
    doc = s.svaml(s.connect_pstn(), s.say("x" * 600), s.set_cookie("k" * 24, "v" * 1000))
    assert render(doc, "ice")


def test_fields_the_docs_give_no_bound_take_what_sinchs_own_sdks_send():
    conference = s.connect_conf("room-1") | {"conferenceDtmfOptions": {"mode": "forward", "maxDigits": 45,
                                                                       "timeoutMills": 456}}
    assert render(s.svaml(conference), "ice")["action"]["conferenceDtmfOptions"]["maxDigits"] == 45
    menu = s.run_menu(s.menu("main", "#tts[x]", s.menu_option("1", "return(one)"))
                      | {"repeats": 20, "maxDigits": 99, "timeoutMills": 90000, "maxTimeoutMills": 123456})
    assert render(s.svaml(menu), "ice")["action"]["menus"][0]["maxTimeoutMills"] == 123456
    assert render(s.svaml(s.connect_pstn("+1") | {"dialTimeout": 20000, "indications": "false"}), "ice")
    assert render(s.svaml(s.connect_stream("wss://x", sample_rate=96000)), "ice")


def test_a_menu_option_s_dtmf_may_be_a_number_as_in_sinchs_examples():
    menu = s.run_menu(s.menu("main", "#tts[x]", {"dtmf": 1, "action": "return(sales)"}))
    assert render(s.svaml(menu), "ice")["action"]["menus"][0]["options"][0]["dtmf"] == 1  # sent as given
    with pytest.raises(SvamlError) as caught:
        render(s.svaml(s.run_menu(s.menu("main", "#tts[x]", {"dtmf": True, "action": "return(x)"}))), "ice")
    assert "action.menus[0].options[0].dtmf" in caught.value.problems
