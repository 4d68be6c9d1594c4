"""The journal spool survives the dyno: Redis keeps what a process spooled, any process imports
it, and a stopping web worker hands its file on (many dynos, issue 18)."""

from __future__ import annotations

import json
import os
import signal
import uuid

import pytest
import requests
from flask_migrate import upgrade
from sqlalchemy import select

from app.db import db
from app.journal import JournalEntry
from app.sinch.signing import sign
from tests import payloads
from tests.processes import gunicorn
from tests.reliability.test_database_restart import postgres_behind_a_proxy  # noqa: F401  (a fixture)
from tests.support import APP_KEY, APP_SECRET, SinchClient, unavailable

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url():
    import redis

    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError:
        unavailable(f"Redis at {url}")
    return url


def journaled(app, call_id: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(JournalEntry.event).where(JournalEntry.call_id == call_id)))


def test_a_dyno_that_dies_during_an_outage_loses_nothing_spooled_in_redis(make_app, database_url, redis_url,
                                                                           tmp_path):
    from app.callbacks.recovery import recover_shared_spool

    queue = {"REDIS_URL": redis_url, "HUEY_NAME": f"spool-test-{uuid.uuid4().hex[:8]}"}
    down = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", INSTANCE_PATH=str(tmp_path / "dyno-1"),
                    **queue)
    sinch = SinchClient(down.test_client())
    assert sinch.post(payloads.DICE | {"callid": "spooled-1"}).status_code == 200
    assert sinch.post(payloads.ICE_PSTN | {"callid": "spooled-1"}).status_code == 200  # answered: the fallback
    spool = down.extensions["sinch_recorder"].spool
    assert [entry["event"] for entry in spool.waiting()] == ["dice", "ice"]
    assert not any((tmp_path / "dyno-1").rglob("journal-*"))  # nothing on the dyno's disk
    # dyno-1 is gone, its instance folder with it; another process, the database back, imports
    other = make_app(INSTANCE_PATH=str(tmp_path / "dyno-2"), **queue)
    with other.app_context():
        assert recover_shared_spool.call_local() == 2
    assert sorted(journaled(other, "spooled-1")) == ["dice", "ice"]
    assert other.extensions["sinch_recorder"].spool.waiting() == []
    with other.app_context():  # imported once: a second pass finds nothing
        assert recover_shared_spool.call_local() in (0, None)


def test_a_list_another_importer_claimed_is_left_to_it_until_its_lease_runs_out(make_app, database_url, redis_url,
                                                                                 tmp_path):
    import redis

    queue = {"REDIS_URL": redis_url, "HUEY_NAME": f"spool-test-{uuid.uuid4().hex[:8]}"}
    down = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", INSTANCE_PATH=str(tmp_path / "dyno-1"),
                    **queue)
    assert SinchClient(down.test_client()).post(payloads.DICE | {"callid": "leased-1"}).status_code == 200
    spool = down.extensions["sinch_recorder"].spool
    # a live importer (another dyno, mid-import) holds the list: claimed under its lease
    client = redis.Redis.from_url(redis_url)
    client.set(f"{spool.key}:lease:other", "4242", ex=60)
    client.rename(spool.key, f"{spool.key}:importing:other")
    other = make_app(INSTANCE_PATH=str(tmp_path / "dyno-2"), **queue)
    importer = other.extensions["sinch_recorder"].spool
    with other.app_context():
        assert importer.import_waiting() == (0, None)             # left to its claimer
    assert journaled(other, "leased-1") == []
    assert [entry["event"] for entry in importer.waiting()] == ["dice"]
    client.delete(f"{spool.key}:lease:other")                     # its claimer died: the lease runs out
    with other.app_context():
        moved, _ = importer.import_waiting()
    assert moved == 1 and journaled(other, "leased-1") == ["dice"]
    assert importer.waiting() == [] and not list(client.scan_iter(match=f"{spool.key}:*"))


def test_with_redis_down_too_the_entry_goes_to_the_process_file(make_app, tmp_path):
    app = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", REDIS_URL="redis://127.0.0.1:1/0",
                   INSTANCE_PATH=str(tmp_path / "instance"))
    assert SinchClient(app.test_client()).post(payloads.DICE | {"callid": "file-1"}).status_code == 200
    [spool_file] = (tmp_path / "instance" / "spool").glob("journal-*.jsonl")
    assert json.loads(spool_file.read_text())["call_id"] == "file-1"


def test_a_stopping_web_worker_hands_its_spool_to_the_database(make_app, postgres_behind_a_proxy, tmp_path):  # noqa: F811
    """No Redis: the database comes back, but no callback arrives to trigger the recovery before a
    deploy stops the dyno (SIGTERM); the worker hands its file to the database on the way out."""
    url, proxy = postgres_behind_a_proxy
    with make_app(DATABASE_URL=url).app_context():
        upgrade()
    env = {"DATABASE_URL": url, "SINCH_APPLICATION_KEY": APP_KEY, "SINCH_APPLICATION_SECRET": APP_SECRET,
           "INSTANCE_PATH": str(tmp_path / "instance"), "WEB_CONCURRENCY": "1", "REDIS_URL": ""}
    body = json.dumps(payloads.DICE | {"callid": "handed-1"}).encode()
    with gunicorn("wsgi:app", env, tmp_path / "web.log") as (base, process):
        proxy.cut()
        headers = sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback", body=body)
        assert requests.post(f"{base}/sinch/callback", data=body, headers=headers, timeout=30).status_code == 200
        assert any((tmp_path / "instance" / "spool").glob("journal-*.jsonl"))
        proxy.restore()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    assert not any((tmp_path / "instance" / "spool").glob("journal-*.jsonl"))
    assert journaled(make_app(DATABASE_URL=url), "handed-1") == ["dice"]
    assert "handed 1 spooled callback(s) on before exiting" in (tmp_path / "web.log").read_text()


def test_with_the_database_still_down_a_stopping_process_hands_its_file_to_redis(make_app, redis_url, tmp_path):
    import redis

    from app import journal

    app = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", REDIS_URL="redis://127.0.0.1:1/0",
                   INSTANCE_PATH=str(tmp_path / "instance"))
    assert SinchClient(app.test_client()).post(payloads.DICE | {"callid": "to-redis-1"}).status_code == 200
    folder = tmp_path / "instance" / "spool"
    assert any(folder.glob("journal-*.jsonl"))  # Redis was down too: the file has it
    key = f"hand-off-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    try:
        with app.app_context():
            assert journal.Spool(folder, client, key).hand_off() == 1  # Redis is back, the database is not
        assert not any(folder.glob("journal-*.jsonl"))
        [line] = client.lrange(key, 0, -1)
        assert json.loads(line)["call_id"] == "to-redis-1"
    finally:
        client.delete(key)


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_the_workers_counts_reach_every_web_dynos_metrics_through_redis(make_app, store, queue, redis_url, tmp_path):
    from tests.support import Flow

    shared = {"REDIS_URL": redis_url, "HUEY_NAME": f"metrics-test-{uuid.uuid4().hex[:8]}"}
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    worker = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), INSTANCE_PATH=str(tmp_path / "worker"), **shared)
    try:
        Flow(worker, store, queue).verified("counted-1")  # the check runs in the "worker" app
        web = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), INSTANCE_PATH=str(tmp_path / "web"), **shared)
        text = web.test_client().get("/metrics").get_data(as_text=True)
        assert 'sinch_worker_verifications_total{outcome="verified"} 1.0' in text
        assert "sinch_worker_verification_seconds_count 1.0" in text
        assert "sinch_worker_checks_requeued_total 0.0" in text
    finally:
        counts = worker.extensions["shared_counts"]
        counts.redis.delete(counts.key)
