"""Live control against the simulator's Manage Call endpoint (it checks the signed PATCH)."""

import pytest

from app.simulator.manage_call import create_manage_call
from tests.processes import Served
from tests.support import APP_KEY, APP_SECRET, SinchClient

TOKEN = "control-token"
RULES = ("version: 1\nallow_literal_credentials: true\ndestinations:\n  d: {url: 's3://rec/{callid}-{segment}.{format}', "
         "sinch_credentials: 'WKEY:wsecret:eu-north-1'}\nrules:\n  - {id: all, record: {destination: d, retain_days: 30}}\n")


@pytest.fixture
def platform():
    app = create_manage_call(APP_KEY, APP_SECRET)
    served = Served(app)
    served.live, served.received = app.live, app.received
    yield served
    served.close()


@pytest.fixture
def live(make_app, platform, tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), API_TOKENS=TOKEN, SINCH_CALLING_BASE_URL=platform.url)
    sinch, client = SinchClient(app.test_client()), app.test_client()

    def call(call_id, resource=True):
        body = {"event": "ice", "callid": call_id, "cli": "+46701111111", "domain": "pstn",
                "to": {"type": "number", "endpoint": "+46812345678"}}
        if resource:
            body["callResourceUrl"] = f"{platform.url}/calling/v1/calls/id/{call_id}"
        sinch.post(body)
        platform.live.add(call_id)

    def control(call_id, **body):
        return client.put(f"/api/v1/calls/{call_id}/recording", json=body, headers={"Authorization": f"Bearer {TOKEN}"})

    app.call, app.control, app.sinch = call, control, sinch
    return app


def test_pause_and_resume_make_segments_with_who_and_why(live, platform):
    live.call("pci-1")
    paused = live.control("pci-1", action="pause", by="agent-7", reason="card number")
    assert paused.status_code == 200, paused.json
    assert paused.json["segment"] == 1 and paused.json["recording"]["status"] == "paused"
    assert paused.json["pauses"] == [{"from": paused.json["pauses"][0]["from"], "to": None, "by": "agent-7",
                                      "reason": "card number"}]
    [patch] = platform.received
    assert patch["signature"] == "ok"
    assert patch["svaml"] == {"instructions": [{"name": "stopRecording"}], "action": {"name": "continue"}}
    resumed = live.control("pci-1", action="resume", by="agent-7")
    assert resumed.status_code == 200 and resumed.json["segment"] == 2
    assert resumed.json["recording"]["destination_url"] == "s3://rec/pci-1-2.mp3"  # a new key
    assert resumed.json["pauses"][0]["to"] is not None
    start = platform.received[-1]["svaml"]
    assert start["instructions"][0]["name"] == "startRecording" and start["action"] == {"name": "continue"}
    assert start["instructions"][0]["options"]["destinationUrl"] == "s3://rec/pci-1-2.mp3"
    stopped = live.control("pci-1", action="stop", reason="call wrap-up")
    assert stopped.status_code == 200 and stopped.json["segment"] == 2
    assert [p["signature"] for p in platform.received] == ["ok", "ok", "ok"]
    events = live.test_client().get("/api/v1/events", query_string={"call_id": "pci-1"},
                                    headers={"Authorization": f"Bearer {TOKEN}"}).json["data"]
    assert [(e["type"], e["data"]["segment"]) for e in events] == [
        ("recording.requested", 1), ("recording.paused", 1), ("recording.resumed", 2), ("recording.stopped", 2)]


def test_control_errors_are_clear(live, platform):
    live.call("err-1")
    again = live.control("err-1", action="start")
    assert again.status_code == 409 and "already being recorded" in again.json["error"]["message"]
    assert live.control("nobody", action="stop").status_code == 404
    bad = live.control("err-1", action="rewind")
    assert bad.status_code == 400 and "action" in bad.json["error"]["fields"]
    platform.live.discard("err-1")  # the call is gone at Sinch
    gone = live.control("err-1", action="pause")
    assert gone.status_code == 404 and "call not found (40400)" in gone.json["error"]["message"]
    live.call("base-1", resource=False)  # no callResourceUrl: the regional base URL is used
    assert live.control("base-1", action="pause").status_code == 200
    assert platform.received[-1]["call_id"] == "base-1"
    live.sinch.post({"event": "dice", "callid": "base-1", "reason": "CALLERHANGUP", "result": "ANSWERED"})
    ended = live.control("base-1", action="resume")
    assert ended.status_code == 409 and "has ended" in ended.json["error"]["message"]



def test_every_path_that_creates_a_recording_sets_its_retention(live, platform):
    """The rule's retain_days reaches each segment it records: the ICE's, and one that live control
    opens (resume gave it none, so it was never purged); a file no rule asked for has none."""
    from datetime import timedelta

    from app.db import db
    from app.recordings.models import Recording

    live.call("ret-1")
    assert live.control("ret-1", action="pause").status_code == 200
    assert live.control("ret-1", action="resume").status_code == 200
    live.sinch.post({"event": "notify", "callid": "ret-1", "version": 1, "type": "recording_available",
                     "destination": "s3://rec/somewhere-else.mp3"})
    with live.app_context():
        rows = db.session.scalars(db.select(Recording).where(Recording.call_id == "ret-1")
                                  .order_by(Recording.segment)).all()
    assert [(row.segment, row.destination_url) for row in rows] == [
        (1, "s3://rec/ret-1-1.mp3"), (2, "s3://rec/ret-1-2.mp3"), (3, "s3://rec/somewhere-else.mp3")]
    assert [row.retain_until - row.requested_at if row.retain_until else None for row in rows] == [
        timedelta(days=30), timedelta(days=30), None]
def test_stop_means_stopped_at_once(live, platform):
    live.call("stop-1")
    stopped = live.control("stop-1", action="stop", reason="customer asked")
    assert stopped.status_code == 200 and stopped.json["recording"]["status"] == "stopped"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert live.test_client().get("/api/v1/calls/stop-1/recordings/active", headers=auth).status_code == 404
    sent = len(platform.received)
    again = live.control("stop-1", action="stop")
    assert again.status_code == 409 and "not being recorded now" in again.json["error"]["message"]
    assert len(platform.received) == sent                           # no second stopRecording to Sinch
    started = live.control("stop-1", action="start", reason="customer agreed again")
    assert started.status_code == 200 and started.json["segment"] == 2
    assert started.json["recording"]["destination_url"] == "s3://rec/stop-1-2.mp3"
    # Sinch delivers the stopped segment as usual: it moves on from stopped
    uri = "s3://rec/stop-1-1.mp3"
    live.sinch.post({"event": "notify", "callid": "stop-1", "type": "recording_finished", "version": 1,
                     "destination": uri})
    segments = live.test_client().get("/api/v1/calls/stop-1/recordings", headers=auth).json["data"]
    assert [(row["segment"], row["status"]) for row in segments] == [(1, "finished"), (2, "requested")]
