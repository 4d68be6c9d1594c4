"""The simulator plays the docs, not the project (issue 12): against a scripted customer app on
loopback and SeaweedFS (which checks the SigV4 signatures of every upload), it keeps call time so
a stop at the ACE gives a shorter file, honours notificationEvents false, announces a file only
once it was written, and sends callbacks shaped as the platform sends them."""

from __future__ import annotations

import io
import uuid

import pytest
from mutagen.mp3 import MP3

from app.simulator.platform import CallSpec, Disagreement, Endpoints, Platform
from tests.processes import Served
from tests.storage_servers import S3_SINCH, new_s3_bucket
from tests.support import APP_KEY, APP_SECRET, CustomerApp


@pytest.fixture
def bucket(s3_server):
    return new_s3_bucket(s3_server, "sim")


def play(s3_server, replies: dict, **spec):
    app = CustomerApp(replies)
    served = Served(app)
    try:
        platform = Platform(f"{served.url}/", APP_KEY, APP_SECRET, endpoints=Endpoints(s3=s3_server.endpoint))
        return platform.call(CallSpec(call_id=uuid.uuid4().hex, **spec)), app.received
    finally:
        served.close()


def recording(bucket: str, credentials: str = f"{S3_SINCH[0]}:{S3_SINCH[1]}:us-east-1", **options) -> dict:
    return {"destinationUrl": f"s3://{bucket}/{uuid.uuid4().hex}.mp3", "credentials": credentials, **options}


def seconds(client, bucket: str, uri: str) -> float:
    key = uri.split("/", 3)[3]
    return MP3(io.BytesIO(client.get_object(Bucket=bucket, Key=key)["Body"].read())).info.length


def test_a_recording_stopped_at_the_ace_lasts_until_the_ace(s3_server, bucket):
    name, client = bucket

    def start():  # a key of its own per call
        return {"instructions": [{"name": "startRecording", "options": recording(name)}],
                "action": {"name": "connectPstn", "number": "+46812345678"}}
    stopped, _ = play(s3_server, {"ice": start(), "ace": {"instructions": [{"name": "stopRecording"}],
                                                          "action": {"name": "continue"}}}, ring=2, duration=3)
    whole, _ = play(s3_server, {"ice": start(), "ace": {"action": {"name": "continue"}}}, ring=2, duration=3)
    assert stopped.ok and whole.ok, (stopped.problems, whole.problems)
    assert 1.9 <= seconds(client, name, stopped.uploads[0].uri) <= 2.2     # ringing only: stopped at the answer
    assert 4.9 <= seconds(client, name, whole.uploads[0].uri) <= 5.2       # ringing and the call


def test_notification_events_false_writes_the_file_and_says_nothing(s3_server, bucket):
    name, _ = bucket
    reply = {"instructions": [{"name": "startRecording", "options": recording(name, notificationEvents=False)}],
             "action": {"name": "connectPstn", "number": "+46812345678"}}
    report, received = play(s3_server, {"ice": reply, "ace": {"action": {"name": "continue"}}}, duration=1)
    assert report.ok and len(report.uploads) == 1
    assert [event["event"] for event in received] == ["ice", "ace", "dice"]


def test_a_failed_upload_is_finished_but_never_available(s3_server, bucket):
    name, _ = bucket
    reply = {"instructions": [{"name": "startRecording", "options": recording(name, credentials="wrong:key:us-east-1")}],
             "action": {"name": "connectPstn", "number": "+46812345678"}}
    report, received = play(s3_server, {"ice": reply, "ace": {"action": {"name": "continue"}}}, duration=1)
    assert report.uploads == [] and any("failed" in problem for problem in report.problems)
    assert [e.get("type") for e in received if e["event"] == "notify"] == ["recording_finished"]


def test_callbacks_are_shaped_as_the_platform_sends_them(s3_server, bucket):
    name, _ = bucket
    reply = {"instructions": [{"name": "startRecording", "options": recording(name)}],
             "action": {"name": "connectPstn", "number": "+46855500000"}}
    _, received = play(s3_server, {"ice": reply, "ace": {"action": {"name": "continue"}}}, duration=60,
                       to="+46812345678", to_type="did", custom="crm-42", rdnis="+46811111111", minimal_finished=True)
    ice, dice = received[0], next(e for e in received if e["event"] == "dice")
    assert ice["to"] == {"type": "did", "endpoint": "+46812345678"} and ice["originationType"] == "PSTN"
    assert (ice["custom"], ice["rdnis"]) == ("crm-42", "+46811111111")
    assert dice["debit"] == {"currencyId": "EUR", "amount": 0.01} and dice["userRate"]["currencyId"] == "EUR"
    finished = next(e for e in received if e.get("type") == "recording_finished")
    assert finished == {"event": "notify", "callid": ice["callid"], "version": 1, "type": "recording_finished"}
    available = next(e for e in received if e.get("type") == "recording_available")
    assert available["destination"].startswith(f"s3://{name}/")


def test_a_reply_the_two_judges_see_differently_stops_the_test_suite(s3_server, monkeypatch):
    """The crosscheck is live in the suite: a reply the simulator's schema takes and the service's
    check refuses (a made-up pair: the service's check is told to refuse everything) raises."""
    import app.simulator.platform as platform_module

    def refuse(doc, kind):
        from app.sinch.svaml import SvamlError
        raise SvamlError({"action": ["refused for this test"]})

    monkeypatch.setattr(platform_module, "render", refuse)
    with pytest.raises(Disagreement, match="the service's check says"):
        play(s3_server, {"ice": {"action": {"name": "hangup"}}}, duration=1)
