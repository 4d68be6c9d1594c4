"""Rules through the callback URL: decision records, catalogue rows, consent, reload, secrets."""

import json
import logging
import os
import shutil
import signal

import pytest
from sqlalchemy import select

from app.db import db
from app.recordings.models import Call, Recording
from app.rules.matching import in_sample
from tests.processes import ROOT
from tests.support import SinchClient, journal_rows

SECRETS = ("demo-write-secret", "demo-read-secret", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq",
           "demo-hmac-secret")


@pytest.fixture
def app(make_app):
    return make_app(RULES_FILE=str(ROOT / "config" / "rules.example.yaml"))


def rows(app, model):
    with app.app_context():
        return list(db.session.scalars(select(model)))


def ice(callid, to="+46812345999", cli="+46701111111"):
    return {"event": "ice", "callid": callid, "cli": cli, "to": {"type": "number", "endpoint": to},
            "domain": "pstn", "originationType": "PSTN", "timestamp": "2026-11-23T09:00:00Z", "version": 1}


def everything_stored(app) -> str:
    dump = []
    with app.app_context():
        for table in ("journal", "calls", "recordings"):
            for row in db.session.execute(db.text(f"SELECT * FROM {table}")):
                dump.append(" ".join(str(v) if not isinstance(v, bytes) else v.decode(errors="replace") for v in row))
    return "\n".join(dump)


def in_office_hours(monkeypatch):
    """Freeze the decision clock at Monday 10:00 Stockholm (the support line's hours)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from app import callbacks
    from app.rules import decide as decide_module

    monday = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    monkeypatch.setattr(callbacks, "rules_decider", lambda holder, rooms: lambda event, call: decide_module.decide(
        event, holder.current, monday, call, room_recorded=rooms))


def test_a_recorded_call_is_catalogued_with_its_decision(make_app, monkeypatch, caplog):
    in_office_hours(monkeypatch)
    app = make_app(RULES_FILE=str(ROOT / "config" / "rules.example.yaml"))
    sinch = SinchClient(app.test_client())
    caplog.set_level(logging.DEBUG)
    response = sinch.post(ice("rec-1"))
    assert response.json["instructions"][1]["options"]["credentials"] == "demo-write:demo-write-secret:us-east-1"

    [entry] = journal_rows(app)
    assert entry.rule_id == "support-line"
    assert entry.decision == {"rule_id": "support-line", "ruleset_hash": app.extensions["rules"].current.hash,
                              "matched": {"to": "+4681234*", "hours": "mon-fri 08:00-18:00 Europe/Stockholm"},
                              "consent": "not_asked",
                              "destination_keys": ["s3://demo-recordings/calls/2026/11/23/rec-1-1.wav"]}
    assert json.loads(entry.reply)["instructions"][1]["options"]["credentials"] == "***"
    [call] = rows(app, Call)
    assert call.rule_id == "support-line" and call.decision == entry.decision and call.facts["to"] == "+46812345999"
    [recording] = rows(app, Recording)
    assert (recording.status, recording.call_id, recording.segment, recording.rule_id, recording.format) == (
        "requested", "rec-1", 1, "support-line", "wav")
    assert recording.destination_url == "s3://demo-recordings/calls/2026/11/23/rec-1-1.wav"
    assert recording.destination == "demo-s3" and recording.mode == "instruction"

    sinch.post(ice("rec-1"))  # Sinch repeats the ICE: still one recording
    assert len(rows(app, Recording)) == 1 and len(rows(app, Call)) == 1
    stored, logged = everything_stored(app), caplog.text
    for secret in SECRETS:
        assert secret not in stored and secret not in logged


def test_consent_flow_over_the_callback_url(app):
    sinch = SinchClient(app.test_client())
    accepted = next(f"c{i}" for i in range(1000) if in_sample(50, "sales-consent", f"c{i}")[0])
    declined = next(f"c{i}" for i in range(1000, 2000) if in_sample(50, "sales-consent", f"c{i}")[0])

    for callid in (accepted, declined):
        menu = sinch.post(ice(callid, to="+46701234567"))
        assert menu.json["action"]["name"] == "runMenu"
    assert rows(app, Recording) == []

    def pie(callid, value):
        return {"event": "pie", "callid": callid, "timestamp": "2026-11-23T09:00:07Z", "version": 1,
                "menuResult": {"menuId": "main", "type": "return", "value": value, "inputMethod": "dtmf"}}

    yes = sinch.post(pie(accepted, "accept"))
    assert yes.json["instructions"][0]["name"] == "startRecording"
    assert yes.json["action"] == {"name": "connectPstn", "number": "+46701234567"}
    no = sinch.post(pie(declined, "decline"))
    assert no.json == {"action": {"name": "connectPstn", "number": "+46701234567"}}

    [recording] = rows(app, Recording)
    assert recording.call_id == accepted and recording.rule_id == "sales-consent" and recording.status == "requested"
    calls = {call.call_id: call for call in rows(app, Call)}
    assert calls[accepted].consent == "accepted" and calls[declined].consent == "declined"
    evidence = calls[accepted].consent_evidence
    asked = evidence.pop("asked")
    assert evidence == {"menu_id": "main", "type": "return", "value": "accept", "input_method": "dtmf",
                        "timestamp": "2026-11-23T09:00:07Z"}
    assert asked["accept"] == "1" and asked["ruleset_hash"] == calls[accepted].ruleset_hash
    assert calls[accepted].consent_at is not None
    assert [e.decision["consent"] for e in journal_rows(app) if e.event == "pie"] == ["accepted", "declined"]


def hangup_and_wait_for_reload() -> None:
    """SIGHUP this process; the handler starts a reload thread, which we join."""
    import threading

    os.kill(os.getpid(), signal.SIGHUP)
    for thread in [t for t in threading.enumerate() if t.name == "rules-reload"]:
        thread.join(30)


def test_reload_swaps_valid_rules_and_keeps_serving_on_a_broken_file(make_app, tmp_path, caplog):
    rules_file = tmp_path / "rules.yaml"
    shutil.copy(ROOT / "tests" / "rules" / "minimal.yaml", rules_file)
    app = make_app(RULES_FILE=str(rules_file))
    holder, sinch = app.extensions["rules"], SinchClient(app.test_client())
    before = holder.current.hash
    assert sinch.post(ice("r1", cli="+19005551234")).json["action"]["name"] == "connectPstn"

    rules_file.write_text("version: 1\nrules:\n  - id: blocked\n    when: {cli: '+1900*'}\n")  # no default
    hangup_and_wait_for_reload()
    assert holder.current.hash == before
    [refusal] = [r for r in caplog.records if r.getMessage().startswith("rules reload refused")]
    assert "last rule must be the default" in str(refusal.problems) and refusal.kept_hash == before
    assert sinch.post(ice("r2", cli="+19005551234")).status_code == 200

    rules_file.write_text("version: 1\nrules:\n  - id: blocked\n    when: {cli: '+1900*'}\n    connect: hangup\n"
                          "  - id: default\n")
    hangup_and_wait_for_reload()
    assert holder.current.hash != before
    assert sinch.post(ice("r3", cli="+19005551234")).json == {"action": {"name": "hangup"}}
    assert [e.rule_id for e in journal_rows(app)] == ["default", "default", "blocked"]


def test_file_change_is_noticed_by_the_watcher_check(make_app, tmp_path):
    rules_file = tmp_path / "rules.yaml"
    shutil.copy(ROOT / "tests" / "rules" / "minimal.yaml", rules_file)
    holder = make_app(RULES_FILE=str(rules_file)).extensions["rules"]
    assert holder.reload_if_changed() is False  # unchanged
    rules_file.write_text(rules_file.read_text() + "\n# edited\n")
    os.utime(rules_file, (1, 1))
    assert holder.reload_if_changed() is True


def test_a_broken_file_at_start_serves_the_last_good_copy(make_app, tmp_path):
    rules_file, instance = tmp_path / "rules.yaml", tmp_path / "instance"
    shutil.copy(ROOT / "tests" / "rules" / "minimal.yaml", rules_file)
    good = make_app(RULES_FILE=str(rules_file), INSTANCE_PATH=str(instance)).extensions["rules"].current
    rules_file.write_text("version: 1\nrules: []\n")
    restarted = make_app(RULES_FILE=str(rules_file), INSTANCE_PATH=str(instance)).extensions["rules"].current
    assert restarted.hash == good.hash

    from app.settings import SettingsError

    with pytest.raises(SettingsError, match="(?s)RULES_FILE.*needs at least the default rule"):
        make_app(RULES_FILE=str(rules_file), INSTANCE_PATH=str(tmp_path / "fresh-instance"))


def test_a_rules_file_that_cannot_be_read_stops_the_start_even_with_a_last_good_copy(make_app, tmp_path):
    """A typo'd RULES_FILE never quietly serves another ruleset (the demo's, or another file's copy)."""
    from app.settings import SettingsError

    instance = tmp_path / "instance"
    demo = make_app(RULES_FILE="", INSTANCE_PATH=str(instance))  # an earlier demo run left its copy
    assert demo.extensions["rules"].demo and any(instance.glob("rules.last-good.*.yaml"))
    with pytest.raises(SettingsError, match=r"RULES_FILE: \S*config/rules\.yml cannot be read \(No such file or directory\): fix the path"):
        make_app(RULES_FILE="config/rules.yml", INSTANCE_PATH=str(instance))

    rules_file = tmp_path / "rules.yaml"
    shutil.copy(ROOT / "tests" / "rules" / "minimal.yaml", rules_file)
    make_app(RULES_FILE=str(rules_file), INSTANCE_PATH=str(instance))
    rules_file.unlink()  # its own copy exists now, but a file that is gone is a mistake to stop on
    with pytest.raises(SettingsError, match="cannot be read"):
        make_app(RULES_FILE=str(rules_file), INSTANCE_PATH=str(instance))


def test_the_last_good_copy_stands_in_only_for_the_same_file(make_app, tmp_path):
    from app.settings import SettingsError

    instance, first, second = tmp_path / "instance", tmp_path / "first.yaml", tmp_path / "second.yaml"
    shutil.copy(ROOT / "tests" / "rules" / "minimal.yaml", first)
    make_app(RULES_FILE=str(first), INSTANCE_PATH=str(instance))
    second.write_text("version: 1\nrules: []\n")
    with pytest.raises(SettingsError, match="needs at least the default rule"):
        make_app(RULES_FILE=str(second), INSTANCE_PATH=str(instance))


def test_the_demo_ruleset_is_said_plainly_in_the_log_readyz_and_the_operator_page(make_app, caplog):
    app = make_app(RULES_FILE="", API_TOKENS="demo-token")
    assert app.extensions["rules"].path == ROOT / "config" / "rules.example.yaml"
    assert any("DEMO ruleset" in record.getMessage() for record in caplog.records)
    ready = app.test_client().get("/readyz").json
    assert ready["rules"]["demo"] is True and "RULES_FILE is unset" in ready["rules"]["warning"]
    page = app.test_client().get("/", headers={"Authorization": "Bearer demo-token"}).get_data(as_text=True)
    assert "DEMO ruleset" in page

    own = make_app(API_TOKENS="demo-token")  # RULES_FILE set (the suite's minimal ruleset)
    assert own.test_client().get("/readyz").json["rules"]["demo"] is False
    assert "DEMO" not in own.test_client().get("/", headers={"Authorization": "Bearer demo-token"}).get_data(as_text=True)
