"""Reliability: workers killed, stores gone, storms of duplicates, stale replays."""

import os
import signal
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.db import db
from app.journal import JournalEntry
from app.recordings.models import Recording
from app.recordings.tasks import sweep_now
from app.simulator.audio import audio
from tests import storage_servers as servers
from tests.processes import eventually, huey_worker
from tests.support import SinchClient, Store


def status_of(app, call_id):
    with app.app_context():
        value = db.session.scalars(select(Recording.status).where(Recording.call_id == call_id)).one()
        db.session.close()
        return value


def checked_at(app, call_id):
    with app.app_context():
        value = db.session.scalars(select(Recording.last_checked_at).where(Recording.call_id == call_id)).one()
        db.session.close()
        return value


def start_recording(app, store, call_id, seconds=2):
    sinch = SinchClient(app.test_client())
    reply = sinch.post({"event": "ice", "callid": call_id, "cli": "+46701111111", "domain": "pstn",
                        "to": {"type": "number", "endpoint": "+46812345678"}}).json
    uri = reply["instructions"][0]["options"]["destinationUrl"]
    store.upload(uri, audio("mp3", seconds))
    sinch.post({"event": "notify", "callid": call_id, "version": 1, "type": "recording_available", "destination": uri})
    return uri


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_worker_killed_mid_verification_is_made_good(make_app, store, queue, tmp_path, database_url):
    rules = tmp_path / "rules.yaml"
    rules.write_text(store.ruleset())
    env = {"DATABASE_URL": database_url, "RULES_FILE": str(rules), "INSTANCE_PATH": str(tmp_path / "instance"),
           "VERIFY_STALE_SECONDS": "10"}
    app = make_app(**env)
    start_recording(app, store, "kill-1")
    weed = os.getpgid(store.server.process.pid)
    os.killpg(weed, signal.SIGSTOP)  # the store hangs: the worker will be stuck inside the read
    try:
        with huey_worker(env, tmp_path / "worker-1.log") as worker:
            # the check writes that it has started before it reads the (hanging) store
            eventually(lambda: checked_at(app, "kill-1"), "the worker to start verifying")
            os.killpg(worker.pid, signal.SIGKILL)  # mid-verification
            worker.wait(10)
    finally:
        os.killpg(weed, signal.SIGCONT)
    assert status_of(app, "kill-1") == "available"  # the check was lost with the worker
    started = checked_at(app, "kill-1")  # the check said it had started: staleness counts from there
    with app.app_context():
        assert sweep_now(started + timedelta(seconds=9))["requeued"] == 0
        assert sweep_now(started + timedelta(seconds=11))["requeued"] == 1  # VERIFY_STALE_SECONDS later
    with huey_worker(env, tmp_path / "worker-2.log"):
        eventually(lambda: status_of(app, "kill-1") == "verified", "a new worker to verify", deadline=60)


def test_a_store_that_goes_away_is_retried_until_it_is_back(make_app, queue, tmp_path):
    try:
        server = servers.start_seaweedfs()
    except servers.ServerMissing as missing:
        from tests.support import unavailable

        unavailable(str(missing))
    try:
        store = Store("s3", server, "outage")
        rules = tmp_path / "rules.yaml"
        rules.write_text(store.ruleset())
        app = make_app(RULES_FILE=str(rules), VERIFY_RETRY_SECONDS="0.1")
        start_recording(app, store, "gone-1")
        servers.stop(server.process)          # the store is down when the worker looks
        queue.run(app)
        assert status_of(app, "gone-1") == "available" and len(queue.scheduled()) == 1
        servers.restart_seaweedfs(server)     # back, with its data
        queue.run(app, scheduled=True)
        assert status_of(app, "gone-1") == "verified"
    finally:
        server.close()


def test_a_storm_of_notifies_each_sent_three_times_gives_exact_counts(make_app, queue):
    from concurrent.futures import ThreadPoolExecutor

    app = make_app(SINCH_VERIFY_SIGNATURES="false")
    count = 10_000

    def send(batch):
        client = app.test_client()
        for i in batch:
            body = {"event": "notify", "callid": f"storm-{i}", "version": 1, "type": "recording_available",
                    "destination": f"s3://storm/{i}.mp3"}
            for _ in range(3):
                assert client.post("/sinch/callback", json=body).status_code == 200

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, [range(start, count, 4) for start in range(4)]))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Recording)) == count
        assert db.session.scalar(select(func.count(func.distinct(Recording.destination_url)))) == count
        assert db.session.scalar(select(func.count()).select_from(JournalEntry)) == 3 * count
        assert app.extensions["huey"].pending_count() == count  # one verification each, not three


def test_a_signed_request_replayed_after_the_window_is_refused(app):
    import json

    from app.sinch.signing import format_timestamp, sign
    from tests.support import APP_KEY, APP_SECRET

    body = json.dumps({"event": "ice", "callid": "replayed", "to": {"type": "number", "endpoint": "+1"}}).encode()
    captured = format_timestamp(datetime.now(timezone.utc) - timedelta(seconds=601))
    headers = sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback", body=body, timestamp=captured)
    response = app.test_client().post("/sinch/callback", data=body, headers=headers)
    assert response.status_code == 401 and response.json["error"]["code"] == "stale_timestamp"
