"""Every recording ends in a proven state — against SeaweedFS, Azurite and fake-gcs-server."""

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from app.db import db
from app.recordings.models import Call
from app.recordings.tasks import sweep_now, verify_now
from app.simulator.audio import audio
from tests.support import Flow


@pytest.fixture
def flow(make_app, store, queue, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(store.ruleset())
    app = make_app(RULES_FILE=str(rules), RECORDING_MIN_DURATION_MS="1000", VERIFY_RETRY_SECONDS="1")
    return Flow(app, store, queue)


def test_a_good_recording_ends_verified(flow):
    uri = flow.call("good-1")
    data = audio("mp3", 3)
    flow.store.upload(uri, data)
    flow.notify("good-1", "recording_finished", uri)
    assert flow.one(call_id="good-1").status == "finished"
    flow.notify("good-1", "recording_available", uri)
    assert flow.one(call_id="good-1").status == "available"
    assert flow.queue.run(flow.app) == 1
    row = flow.one(call_id="good-1")
    assert (row.status, row.size_bytes, row.sha256) == ("verified", len(data), hashlib.sha256(data).hexdigest())
    assert 3000 <= row.duration_ms <= 3300 and row.sample_rate == 8000 and row.channels == 1
    assert row.finished_at and row.available_at and row.verified_at and row.failure_reason is None
    assert row.checks["format"] == "mp3"


def test_wav_recordings_are_verified_too(flow, tmp_path):
    (tmp_path / "rules.yaml").write_text(flow.store.ruleset(format="wav"))
    flow.app.extensions["rules"].reload()
    uri = flow.call("wav-1")
    assert uri.endswith(".wav")
    data = audio("wav", 2)
    flow.store.upload(uri, data)
    flow.notify("wav-1", "recording_available", uri)
    flow.queue.run(flow.app)
    row = flow.one(call_id="wav-1")
    assert row.status == "verified" and row.duration_ms == 2000 and row.size_bytes == len(data)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file (0 bytes)"),
    (audio("wav", 3), "wrong format: mp3 was requested but the file is wav"),
    (audio("mp3", 0.3), "too short"),
    (b"<html>AccessDenied</html>" * 40, "not playable"),
])
def test_bad_files_end_failed_with_the_reason(flow, content, reason):
    uri = flow.call("bad-1")
    flow.store.upload(uri, content)
    flow.notify("bad-1", "recording_available", uri)
    flow.queue.run(flow.app)
    row = flow.one(call_id="bad-1")
    assert row.status == "failed" and reason in row.failure_reason and row.sha256 is None


def test_a_file_replaced_after_verification_fails_the_checksum(flow):
    uri = flow.call("swap-1")
    flow.store.upload(uri, audio("mp3", 3))
    flow.notify("swap-1", "recording_available", uri)
    flow.queue.run(flow.app)
    first = flow.one(call_id="swap-1")
    assert first.status == "verified"
    flow.store.upload(uri, audio("mp3", 4))  # overwritten (Sinch reuses keys; or tampering)
    with flow.app.app_context():
        assert verify_now(first.id, force=True) == "failed"
    row = flow.one(call_id="swap-1")
    assert row.status == "failed" and "checksum mismatch: the content changed since it was verified" in row.failure_reason
    assert first.sha256 in row.failure_reason


def test_a_file_that_appears_late_ends_verified(flow):
    uri = flow.call("late-1")
    flow.notify("late-1", "recording_available", uri)  # Sinch said so, but the object is not there yet
    assert flow.queue.run(flow.app) == 1
    row = flow.one(call_id="late-1")
    assert row.status == "available" and row.verify_attempts == 1 and len(flow.queue.scheduled()) == 1
    assert "not found yet" in row.pending_reason and row.pending_reason.endswith("check 2 in 1 s")  # said, not silent
    listed = flow.app.test_cli_runner().invoke(args=["recordings", "list", "--call", "late-1"]).output
    assert "waiting: " in listed and "not found yet" in listed
    flow.store.upload(uri, audio("mp3", 2))
    assert flow.queue.run(flow.app, scheduled=True) == 1
    row = flow.one(call_id="late-1")
    assert row.status == "verified" and row.verify_attempts == 2 and row.pending_reason is None


def test_a_file_that_never_appears_fails_after_the_deadline(flow, make_app, tmp_path):
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), VERIFY_DEADLINE_SECONDS="0")
    late = Flow(app, flow.store, flow.queue)
    uri = late.call("never-1")
    late.notify("never-1", "recording_available", uri)
    late.queue.run(app)
    row = late.one(call_id="never-1")
    assert row.status == "failed" and "gave up after 1 checks" in row.failure_reason and "not found yet" in row.failure_reason


def test_duplicate_and_reordered_notifies_give_one_row_in_the_same_state(flow):
    uri = flow.call("dup-1")
    flow.store.upload(uri, audio("mp3", 2))
    for kind in ("recording_available", "recording_finished", "recording_available", "recording_finished",
                 "recording_available"):
        flow.notify("dup-1", kind, uri)
    assert flow.queue.run(flow.app) == 1  # one verification, not three
    row = flow.one(call_id="dup-1")
    assert row.status == "verified"
    for kind in ("recording_finished", "recording_available"):  # late events never move it back
        flow.notify("dup-1", kind, uri)
    assert flow.queue.run(flow.app) == 0
    assert flow.one(call_id="dup-1").status == "verified"


def test_notifies_for_a_recording_no_rule_asked_for_are_catalogued(flow):
    known = flow.call("known-1")
    uri = known.rsplit("/", 1)[0] + "/outside-the-rules.mp3"
    flow.store.upload(uri, audio("mp3", 2))
    flow.notify("known-1", "recording_available", uri)
    flow.notify("known-1", "recording_available", uri)
    flow.queue.run(flow.app)
    rows = flow.recordings(call_id="known-1")
    assert len(rows) == 2
    outside = next(r for r in rows if r.destination_url == uri)
    assert outside.rule_id is None and outside.segment == 2 and outside.status == "verified"


def test_the_sweeper_marks_recordings_that_never_arrive_missing(flow):
    flow.call("gone-1")
    flow.dice("gone-1")
    row = flow.one(call_id="gone-1")
    assert row.status == "requested" and row.expected_by is not None
    with flow.app.app_context():
        assert sweep_now(datetime.now(timezone.utc))["missing"] == 0  # not yet past the deadline
        assert sweep_now(row.expected_by + timedelta(seconds=1))["missing"] == 1
    row = flow.one(call_id="gone-1")
    assert row.status == "missing" and "never became available" in row.failure_reason
    with flow.app.app_context():
        call = db.session.get(Call, "gone-1")
        assert (call.end_reason, call.end_result, call.duration_s) == ("CALLERHANGUP", "ANSWERED", 12)


def test_the_sweeper_finds_late_files_and_verifies_them(flow):
    uri = flow.call("found-1")
    flow.dice("found-1")
    flow.store.upload(uri, audio("mp3", 2))  # uploaded, but recording_available was lost
    row = flow.one(call_id="found-1")
    with flow.app.app_context():
        assert sweep_now(row.expected_by + timedelta(seconds=1))["found"] == 1
    flow.queue.run(flow.app)
    assert flow.one(call_id="found-1").status == "verified"


def test_transcriptions_and_calling_errors_are_kept(flow):
    uri = flow.call("tx-1")
    transcript = uri.rsplit(".", 1)[0] + "-transcript.json"
    flow.notify("tx-1", "transcription_available", transcript)
    assert flow.one(call_id="tx-1").transcription_url == transcript
    assert flow.sinch.post({"event": "notify", "callid": "tx-1", "version": 1, "type": "callingerror",
                            "errorCode": 40001, "errorMsg": "Illegal SVAML"}).status_code == 200
    with flow.app.app_context():
        assert db.session.get(Call, "tx-1").error["code"] == 40001


@pytest.mark.parametrize("store", ["azure"], indirect=True)
def test_a_corrupt_upload_fails_on_the_stores_own_checksum(flow):
    """Azure keeps the Content-MD5 the uploader declared; content that does not match it is corrupt."""
    uri = flow.call("corrupt-1")
    data = audio("mp3", 2)
    flow.store.upload(uri, data, content_md5=bytearray(hashlib.md5(data + b"lost bytes").digest()),
                      content_type="audio/mpeg")
    flow.notify("corrupt-1", "recording_available", uri)
    flow.queue.run(flow.app)
    row = flow.one(call_id="corrupt-1")
    assert row.status == "failed" and "checksum mismatch: the store's MD5" in row.failure_reason


def test_a_check_the_database_fails_under_is_queued_again(make_app, queue):
    """The database down under a check: the task is scheduled again (it used to fail for good)."""
    from app.recordings.tasks import verify_recording

    down = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", VERIFY_RETRY_SECONDS="2")
    verify_recording("some-recording", attempt=3)
    assert queue.run(down) == 1
    [again] = queue.scheduled()
    assert again.args == ("some-recording",) and again.kwargs["attempt"] == 4
    assert 14 <= (again.eta - datetime.utcnow()).total_seconds() <= 16  # 2 s doubled three times


def test_the_sweeper_queues_a_silent_check_again_after_the_configured_stale_time(make_app, store, queue, tmp_path):
    from prometheus_client import REGISTRY

    (tmp_path / "rules.yaml").write_text(store.ruleset())
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), VERIFY_STALE_SECONDS="30")
    flow = Flow(app, store, queue)
    uri = flow.call("stale-1")
    flow.notify("stale-1", "recording_available", uri)  # its check is queued, then lost (no worker)
    row = flow.one(call_id="stale-1")
    counted = REGISTRY.get_sample_value("sinch_checks_requeued_total") or 0.0
    with app.app_context():
        assert sweep_now(row.available_at + timedelta(seconds=29))["requeued"] == 0
        assert sweep_now(row.available_at + timedelta(seconds=31))["requeued"] == 1
    assert REGISTRY.get_sample_value("sinch_checks_requeued_total") == counted + 1


def test_a_recording_whose_calls_end_was_never_heard_of_is_still_swept(make_app, store, queue, tmp_path):
    """No DiCE ever came (lost, or the spool that held it is gone): ``expected_by`` stays empty,
    and the sweeper still ends the recording once the longest call and its deadline are over."""
    from app.recordings.queries import overdue_count

    (tmp_path / "rules.yaml").write_text(store.ruleset())
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), CALL_MAX_SECONDS="3600", RECORDING_DEADLINE_SECONDS="900")
    flow = Flow(app, store, queue)
    flow.call("endless-1")
    row = flow.one(call_id="endless-1")
    assert row.status == "requested" and row.expected_by is None
    limit = row.requested_at + timedelta(seconds=3600 + 900)
    with app.app_context():
        settings = app.extensions["settings"]
        with db.engine.connect() as connection:
            assert overdue_count(connection, limit - timedelta(seconds=1), settings) == 0
            assert overdue_count(connection, limit + timedelta(seconds=1), settings) == 1
        assert sweep_now(limit - timedelta(seconds=1))["missing"] == 0
        assert sweep_now(limit + timedelta(seconds=1))["missing"] == 1
    row = flow.one(call_id="endless-1")
    assert row.status == "missing" and "the call's end was never heard of" in row.failure_reason
