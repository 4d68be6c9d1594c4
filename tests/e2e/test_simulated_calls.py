"""End to end: gunicorn + the huey worker + the simulator + each real storage server.

The simulator plays Sinch over HTTP; Sinch's uploads land in SeaweedFS, Azurite or
fake-gcs-server with the credentials from the SVAML; the worker proves every file.
"""

import base64
import re
import uuid
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from app import create_app
from app.db import db
from app.recordings.models import Call, Recording
from app.recordings.tasks import sweep_now
from app.simulator.platform import CallSpec, Endpoints, Misbehaviour, Platform
from tests.evidence.test_bundle import both_verifiers
from tests.evidence.test_log import KEY as EVIDENCE_KEY
from tests.processes import eventually, gunicorn, huey_worker
from tests.support import APP_KEY, APP_SECRET, Receiver, Store

SERVERS = {"s3": "s3_server", "azure": "azure_server", "gs": "gcs_server"}


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"the e2e receiver's 32-byte key!!").decode()


def ruleset(store: Store, hook: str) -> str:
    destination = {"url": store.url, "sinch_credentials": store.sinch_credentials, "read": store.read}
    rules = [
        {"id": "consent", "when": {"to": "+4670*"},
         "record": {"destination": "store", "consent": {"prompt": "Press 1 to allow recording."}}, "connect": "dialled"},
        {"id": "rooms", "when": {"header": {"x-room": "*"}}, "record": {"destination": "store", "mode": "conference"},
         "connect": {"conference": "room-{header.x-room}"}},
        {"id": "transcribed", "when": {"to": "+4631*"},
         "record": {"destination": "store", "transcription": {"locale": "en-US"}}, "connect": "dialled"},
        {"id": "record-all", "record": {"destination": "store"}, "connect": "dialled"},
    ]
    return yaml.safe_dump({"version": 1, "allow_literal_credentials": True, "destinations": {"store": destination},
                           "rules": rules, "webhooks": {"crm": {"url": hook, "secret": WEBHOOK_SECRET}}})


class Stack:
    auth = {"Authorization": "Bearer e2e-token"}  # API_TOKENS below

    def __init__(self, platform: Platform, app, receiver: Receiver):
        self.platform, self.app, self.receiver = platform, app, receiver

    def call(self, **spec) -> tuple:
        report = self.platform.call(CallSpec(call_id=uuid.uuid4().hex, duration=2, **spec))
        return report, report.call_id

    def recordings(self, call_id: str) -> list:
        with self.app.app_context():
            rows = list(db.session.scalars(select(Recording).where(Recording.call_id == call_id)))
            db.session.close()  # detach, attributes kept; the next look reads afresh
            return rows

    def settled(self, call_id: str, count: int = 1) -> list:
        """Wait for the worker to bring the call's recordings to a final state."""
        def done():
            rows = self.recordings(call_id)
            return rows if len(rows) == count and all(r.status in ("verified", "failed") for r in rows) else None
        return eventually(done, f"the worker to settle {call_id}", deadline=60)

    def call_row(self, call_id: str):
        with self.app.app_context():
            row = db.session.get(Call, call_id)
            db.session.close()  # detach, attributes kept; the next look reads afresh
            return row


@pytest.fixture(scope="module", params=sorted(SERVERS))
def stack(request, database_url, tmp_path_factory):
    server = request.getfixturevalue(SERVERS[request.param])
    store = Store(request.param, server, f"e2e-{uuid.uuid4().hex[:10]}")
    work = tmp_path_factory.mktemp(f"e2e-{request.param}")
    receiver = Receiver(WEBHOOK_SECRET)
    (work / "rules.yaml").write_text(ruleset(store, receiver.url))
    env = {"DATABASE_URL": database_url, "SINCH_APPLICATION_KEY": APP_KEY, "SINCH_APPLICATION_SECRET": APP_SECRET,
           "RULES_FILE": str(work / "rules.yaml"), "INSTANCE_PATH": str(work / "instance"),
           "WEB_CONCURRENCY": "2", "VERIFY_RETRY_SECONDS": "0.5", "RECORDING_MIN_DURATION_MS": "1000",
           "API_TOKENS": "e2e-token", "WEBHOOKS_ALLOW_HTTP": "true", "WEBHOOKS_ALLOW_HOSTS": "127.0.0.1",
           "WEBHOOK_POLL_SECONDS": "0.2", "EVIDENCE_SIGNING_KEY": EVIDENCE_KEY}
    endpoints = Endpoints(s3=server.endpoint if store.scheme == "s3" else None,
                          azure=server.endpoint if store.scheme == "azure" else None,
                          gcs=server.endpoint if store.scheme == "gs" else None)
    with gunicorn("wsgi:app", env, work / "web.log") as (base, _), huey_worker(env, work / "worker.log"):
        app = create_app({k: v for k, v in env.items() if k != "WEB_CONCURRENCY"})
        yield Stack(Platform(f"{base}/sinch/callback", APP_KEY, APP_SECRET, endpoints=endpoints), app, receiver)
    receiver.close()


def test_a_recorded_call_ends_verified(stack):
    report, call_id = stack.call(to="+46812345678")
    assert report.ok, report.problems
    assert [e.event for e in report.exchanges] == ["ice", "ace", "dice", "notify", "notify"]
    [upload] = report.uploads
    [row] = stack.settled(call_id)
    assert row.status == "verified" and row.rule_id == "record-all"
    assert (row.size_bytes, row.sha256) == (upload.size, upload.sha256)
    assert 2000 <= row.duration_ms <= 2300
    assert stack.call_row(call_id).end_result == "ANSWERED"
    # The worker told the customer's receiver, signed, in order (checked with standardwebhooks).
    eventually(lambda: "recording.verified" in stack.receiver.of(row.id), "the webhook of the verified recording")
    assert stack.receiver.of(row.id) == ["recording.requested", "recording.available", "recording.verified"]


def test_a_consented_call_s_evidence_bundle_verifies_with_both_verifiers(stack, tmp_path):
    """A call recorded after the caller pressed 1, through gunicorn, the worker and the store:
    its bundle proves the file's SHA-256, the rule, the ruleset and the consent."""
    report, call_id = stack.call(to="+46701234567", press="1")
    assert report.ok, report.problems
    [row] = stack.settled(call_id)
    eventually(lambda: "recording.verified" in stack.receiver.of(row.id), "the verified event numbered")
    runner = stack.app.test_cli_runner()
    assert runner.invoke(args=["evidence", "sign"]).exit_code == 0  # the worker would within a minute
    result = runner.invoke(args=["recordings", "evidence", row.id, "-o", str(tmp_path / "bundle.json")])
    assert result.exit_code == 0, result.output
    claimed = yaml.safe_load((tmp_path / "bundle.json").read_text())["recording"]
    assert (claimed["sha256"], claimed["consent"], claimed["rule_id"]) == (report.uploads[0].sha256, "accepted",
                                                                           "consent")
    assert claimed["ruleset_hash"] == stack.call_row(call_id).ruleset_hash
    for code, output in both_verifiers(stack, tmp_path / "bundle.json"):
        assert code == 0 and "consent: accepted" in output, output


def test_consent_accepted_records_and_declined_does_not(stack):
    """Yes, no, silence and a hang-up are four outcomes, each kept with what was asked."""
    yes, yes_id = stack.call(to="+46701234567", press="1")
    no, no_id = stack.call(to="+46701234567", press="2")
    silent, silent_id = stack.call(to="+46701234567")
    gone, gone_id = stack.call(to="+46701234567", press="hangup")
    assert yes.ok and no.ok and silent.ok and gone.ok
    assert [e.event for e in no.exchanges][:3] == ["ice", "pie", "ace"]
    assert [e.event for e in gone.exchanges] == ["ice", "dice"]
    assert stack.settled(yes_id)[0].status == "verified"
    assert all(stack.recordings(i) == [] for i in (no_id, silent_id, gone_id)) and no.uploads == gone.uploads == []
    outcomes = {call_id: stack.call_row(call_id) for call_id in (yes_id, no_id, silent_id, gone_id)}
    assert [row.consent for row in outcomes.values()] == ["accepted", "declined", "timeout", "no_answer"]
    assert [row.consent_evidence["type"] for row in outcomes.values()] == ["return", "return", "timeout", "hangup"]
    assert outcomes[gone_id].consent_evidence["reason"] == "CALLERHANGUP"
    for row in outcomes.values():  # what was asked: the prompt's hash, the digits, the ruleset
        asked = row.consent_evidence["asked"]
        assert asked["accept"] == "1" and asked["decline"] == "2" and len(asked["prompt_sha256"]) == 64
        assert asked["ruleset_hash"] == row.ruleset_hash
    api = stack.app.test_client()
    def listed(consent: str) -> set:
        return {row["call_id"] for row in api.get(f"/api/v1/recordings?consent={consent}&limit=500",
                                                   headers=stack.auth).json["data"]}
    assert yes_id in listed("accepted") and yes_id not in listed("timeout") | listed("declined")
    assert api.get("/api/v1/recordings?consent=maybe", headers=stack.auth).status_code == 400


def test_a_conference_recording(stack):
    report, call_id = stack.call(to="bob", domain="mxp", headers=(("x-room", "standup"),))
    assert report.ok and [e.event for e in report.exchanges][0] == "ice"
    [row] = stack.settled(call_id)
    assert row.status == "verified" and row.conference_id == "room-standup" and row.mode == "conference"


def test_transcription_is_uploaded_and_linked(stack):
    report, call_id = stack.call(to="+46311234567")
    [upload] = report.uploads
    assert upload.transcript
    [row] = stack.settled(call_id)
    assert row.status == "verified" and row.transcription_url == upload.transcript


@pytest.mark.parametrize("misbehave", [
    Misbehaviour(duplicate_notifies=True), Misbehaviour(reorder_notifies=True),
    Misbehaviour(late_availability=True), Misbehaviour(duplicate_notifies=True, reorder_notifies=True),
    Misbehaviour(slow_sender=0.002),
], ids=["duplicates", "reordered", "late", "duplicates+reordered", "slow-sender"])
def test_misbehaving_network_still_ends_verified_with_one_row(stack, misbehave):
    report, call_id = stack.call(misbehave=misbehave)
    assert report.ok, report.problems
    [row] = stack.settled(call_id)
    assert row.status == "verified" and row.sha256 == report.uploads[0].sha256


def test_a_file_in_another_format_than_requested_ends_failed(stack):
    report, call_id = stack.call(misbehave=Misbehaviour(upload_format="wav"))
    assert report.uploads[0].format == "wav" and report.uploads[0].uri.endswith(".mp3")
    [row] = stack.settled(call_id)
    assert row.status == "failed" and "wrong format: mp3 was requested but the file is wav" in row.failure_reason


def test_an_empty_upload_ends_failed(stack):
    report, call_id = stack.call(misbehave=Misbehaviour(empty_upload=True))
    [row] = stack.settled(call_id)
    assert row.status == "failed" and "empty file" in row.failure_reason


def test_a_missing_recording_available_is_found_by_the_sweeper(stack):
    report, call_id = stack.call(misbehave=Misbehaviour(missing_available=True))
    assert report.ok
    [row] = stack.recordings(call_id)
    assert row.status == "finished" and row.expected_by is not None
    with stack.app.app_context():
        assert sweep_now(row.expected_by + timedelta(seconds=1))["found"] == 1
    assert stack.settled(call_id)[0].status == "verified"


def test_a_wrong_signature_is_refused_and_nothing_is_recorded(stack):
    report, call_id = stack.call(misbehave=Misbehaviour(wrong_signature=True))
    assert not report.ok and report.exchanges[0].status == 401
    assert "bad_signature" in report.problems[0]
    assert stack.recordings(call_id) == [] and report.uploads == []


def run_cli(stack, *args):
    endpoints = stack.platform.endpoints
    options = ["--target", stack.platform.target, "--key", APP_KEY, "--secret", APP_SECRET,
               "--s3-endpoint", endpoints.s3 or "", "--azure-endpoint", endpoints.azure or "",
               "--gcs-endpoint", endpoints.gcs or ""]
    return stack.app.test_cli_runner().invoke(args=["sinch", "simulate", *args[:1], *options, *args[1:]])


def test_simulate_call_command(stack):
    result = run_cli(stack, "call", "--to", "+46701234567", "--press", "1", "--duration", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("call ") and "ice    200" in lines[1] and "runMenu" in lines[1]
    assert "pie    200" in lines[2] and "startRecording, connectPstn" in lines[2]
    assert any(line.startswith("  recorded ") and "bytes, mp3" in line for line in lines)
    refused = run_cli(stack, "call", "--wrong-signature")
    assert refused.exit_code == 1 and "problem: ice: HTTP 401" in refused.output


def test_simulate_call_waits_for_the_service_and_the_verdict(stack):
    result = run_cli(stack, "call", "--duration", "2", "--wait", "60")
    assert result.exit_code == 0, result.output
    assert re.search(r"\n  \S+: verified \(\d+ bytes, \d+ ms, sha256 [0-9a-f]{16}…\)\n", result.output), result.output
    down = stack.app.test_cli_runner().invoke(args=["sinch", "simulate", "call", "--target",
                                                    "http://127.0.0.1:1/sinch/callback", "--key", APP_KEY,
                                                    "--secret", APP_SECRET, "--wait", "1"])
    assert down.exit_code == 1 and "is not ready after 1 s (not answering" in down.output
    assert "start it with: honcho start web worker" in down.output


def test_simulate_load_command_counts_verified_recordings(stack):
    result = run_cli(stack, "load", "--calls", "12", "--concurrency", "4", "--duration", "2", "--wait", "60")
    assert result.exit_code == 0, result.output
    assert "12 calls, 4 at a time" in result.output
    assert "calls 12, errors 0" in result.output and "recordings verified 12 / expected 12" in result.output


def test_a_recording_finished_without_destination_still_ends_verified(stack):
    """The docs' minimal recording_finished names no file: the file is matched when it is
    announced (recording_available), and proven."""
    report, call_id = stack.call(to="+46812345678", minimal_finished=True)
    assert report.ok, report.problems
    [row] = stack.settled(call_id)
    assert row.status == "verified"
