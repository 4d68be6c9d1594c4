"""The event log (issue 27): written in the transaction of each change (an outbox), numbered only
once committed, read through a feed whose cursor never skips an event — even while many
threads and processes commit out of order."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select

from app.db import db
from app.events import log as event_log
from app.events.models import Event
from app.recordings.catalogue import new_recording
from app.simulator.audio import audio
from tests.processes import ROOT
from tests.support import Flow, Store

TOKEN = "events-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def flow(make_app, tmp_path, s3_server, queue):
    store = Store("s3", s3_server, f"ev-{uuid.uuid4().hex[:12]}")
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), API_TOKENS=TOKEN)
    return Flow(app, store, queue)


def feed(app, **query) -> list[dict]:
    """Every event the feed gives, paging with its cursor."""
    client, seen, cursor = app.test_client(), [], None
    while True:
        answer = client.get("/api/v1/events", query_string={**query, **({"cursor": cursor} if cursor else {})},
                            headers=AUTH)
        assert answer.status_code == 200, answer.json
        seen += answer.json["data"]
        cursor = answer.json["paging"]["next_cursor"]
        if not answer.json["paging"]["has_more"]:
            return seen


def test_a_recording_s_life_is_told_in_order_with_the_recording_as_the_api_shows_it(flow):
    row = flow.verified("ev-1", audio("mp3", 2))
    events = feed(flow.app, recording_id=row.id)
    assert [e["type"] for e in events] == ["recording.requested", "recording.available", "recording.verified"]
    shown = flow.app.test_client().get(f"/api/v1/recordings/{row.id}", headers=AUTH).json
    assert events[-1]["data"] == shown  # the event's data is the recording as GET shows it
    assert events[0]["data"]["status"] == "requested" and events[0]["id"].startswith("evt_")
    assert all(e["timestamp"].endswith("Z") for e in events)
    assert datetime.fromisoformat(events[0]["timestamp"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)


def test_hold_release_delete_and_consent_are_events(flow):
    row = flow.verified("ev-2")
    client = flow.app.test_client()
    assert client.put(f"/api/v1/recordings/{row.id}/hold", json={"legal_hold": True}, headers=AUTH).status_code == 200
    assert client.put(f"/api/v1/recordings/{row.id}/hold", json={"legal_hold": True}, headers=AUTH).status_code == 200
    assert client.put(f"/api/v1/recordings/{row.id}/hold", json={"legal_hold": False}, headers=AUTH).status_code == 200
    assert client.delete(f"/api/v1/recordings/{row.id}?reason=test", headers=AUTH).status_code == 200
    types = [e["type"] for e in feed(flow.app, recording_id=row.id)]
    assert types[-3:] == ["recording.held", "recording.released", "recording.deleted"]  # the second hold: no change
    deleted = feed(flow.app, type="recording.deleted")[-1]
    assert deleted["data"]["deletion"]["reason"] == "test" and deleted["data"]["status"] == "deleted"


def test_a_change_rolled_back_leaves_no_event(make_app):
    app = make_app()
    with app.app_context():
        with pytest.raises(RuntimeError), db.engine.begin() as connection:
            new_recording(connection, call_id="gone", destination_url="s3://b/gone.mp3", format="mp3",
                          requested_at=datetime.now(timezone.utc))
            raise RuntimeError("the change fails after its event was written")
        assert db.session.scalars(select(Event).where(Event.call_id == "gone")).all() == []


def test_an_event_committed_late_is_numbered_after_what_a_reader_has_seen(make_app):
    """Transaction A writes first and commits last: B is numbered (and read) first, then A after
    it, never below the reader's cursor. (SQLite lets one writer at a time, so there A is written
    after B was read, with the earlier timestamp a transaction begun first would give it.)"""
    app = make_app(API_TOKENS=TOKEN)
    with app.app_context():
        engine = db.engine
    now = datetime.now(timezone.utc)
    with engine.connect() as first:
        transaction = first.begin()
        if engine.dialect.name == "postgresql":
            early = event_log.append(first, "call.consent", {"n": "A"}, call_id="late", now=now)
        with engine.begin() as second:
            later = event_log.append(second, "call.consent", {"n": "B"}, call_id="late")
        seen = feed(app, call_id="late")
        assert [e["id"] for e in seen] == [later]
        if engine.dialect.name != "postgresql":
            early = event_log.append(first, "call.consent", {"n": "A"}, call_id="late", now=now)
        transaction.commit()
    assert [e["id"] for e in feed(app, call_id="late")] == [later, early]
    with engine.connect() as connection:
        numbers = dict(connection.execute(select(Event.id, Event.seq).where(Event.call_id == "late")).all())
    assert numbers[early] > numbers[later]


WRITER = """
import sys, uuid
from datetime import datetime, timezone
from sqlalchemy import create_engine
from app.events import log
engine = create_engine(sys.argv[1])
for i in range(int(sys.argv[3])):
    with engine.begin() as connection:
        log.append(connection, "call.consent", {"i": i}, call_id=sys.argv[2], now=datetime.now(timezone.utc))
"""


def test_the_feed_read_while_many_writers_commit_never_skips_an_event(make_app, database_url):
    """8 threads and 2 processes commit events (each in its own transaction, out of order under
    load) while a reader pages the feed with its cursor; afterwards the reader has seen every
    event exactly once, in one increasing order."""
    app = make_app(API_TOKENS=TOKEN)
    with app.app_context():
        engine = db.engine
    tag, per_thread, per_process = f"race-{uuid.uuid4().hex[:8]}", 40, 40
    url = engine.url.render_as_string(hide_password=False)
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, url, tag, str(per_process)], cwd=ROOT)
                 for _ in range(2)]
    written, failures = [], []

    def write():
        try:
            for i in range(per_thread):
                with engine.begin() as connection:
                    written.append(event_log.append(connection, "call.consent", {"i": i}, call_id=tag))
        except Exception as error:  # noqa: BLE001 — reported below
            failures.append(error)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    client, seen, cursor = app.test_client(), [], None
    while any(t.is_alive() for t in threads) or any(p.poll() is None for p in processes):
        answer = client.get("/api/v1/events", query_string={"call_id": tag, "limit": 7,
                                                             **({"cursor": cursor} if cursor else {})}, headers=AUTH)
        assert answer.status_code == 200, answer.json
        seen += [e["id"] for e in answer.json["data"]]
        cursor = answer.json["paging"]["next_cursor"]
    for thread in threads:
        thread.join()
    assert [p.wait(60) for p in processes] == [0, 0] and not failures, failures
    while True:  # the rest, after the last commit
        answer = client.get("/api/v1/events", query_string={"call_id": tag, "cursor": cursor}, headers=AUTH)
        seen += [e["id"] for e in answer.json["data"]]
        cursor = answer.json["paging"]["next_cursor"]
        if not answer.json["data"]:
            break
    total = 8 * per_thread + 2 * per_process
    assert len(seen) == len(set(seen)) == total
    assert set(written) <= set(seen)
    with engine.connect() as connection:
        order = connection.execute(select(Event.id).where(Event.call_id == tag).order_by(Event.seq)).scalars().all()
    assert seen == order


def test_the_feed_filters_and_refuses_a_cursor_it_did_not_give(make_app):
    app = make_app(API_TOKENS=TOKEN)
    with app.app_context(), db.engine.begin() as connection:
        for call_id, type_ in (("f1", "call.consent"), ("f2", "call.consent"), ("f1", "recording.requested")):
            connection.execute(insert(Event).values(id=event_log.new_id(), type=type_, call_id=call_id,
                                                    created_at=datetime.now(timezone.utc), data={}))
    assert [e["type"] for e in feed(app, call_id="f1")] == ["call.consent", "recording.requested"]
    assert len(feed(app, type="call.*")) == 2 and len(feed(app, type="recording.requested,call.consent")) == 3
    # globs read as a webhook reads them
    assert len(feed(app, type="*.consent")) == 2 and feed(app, type="nothing.*") == []
    client = app.test_client()
    refused = client.get("/api/v1/events", query_string={"cursor": "bm90IG91cnM"}, headers=AUTH)
    assert refused.status_code == 400 and "cursor" in refused.json["error"]["fields"]
    assert client.get("/api/v1/events").status_code == 401
    assert client.get("/api/v1/events/evt_nope", headers=AUTH).status_code == 404


def test_retention_prunes_old_events_with_their_deliveries_but_never_a_pending_one(make_app):
    from datetime import timedelta

    from app.events.delivery import fan_out
    from app.events.models import WebhookDelivery
    from app.events.retention import prune_events
    from app.rules.model import WebhookEndpoint

    app = make_app()
    long_ago, now = datetime.now(timezone.utc) - timedelta(days=40), datetime.now(timezone.utc)
    with app.app_context():
        engine = db.engine
        with engine.begin() as connection:
            old = [event_log.append(connection, "call.consent", {}, call_id="old", now=long_ago) for _ in range(3)]
            fresh = event_log.append(connection, "call.consent", {}, call_id="fresh", now=now)
        endpoint = {"crm": WebhookEndpoint("crm", "https://crm.example/h", b"k" * 32)}
        event_log.sequence(engine, fan_out(endpoint, now))
        with engine.begin() as connection:  # two of the old ones were delivered; one still waits
            connection.execute(WebhookDelivery.__table__.update().where(
                WebhookDelivery.event_id.in_(old[:2])).values(status="delivered"))
        with app.test_request_context():
            assert prune_events(0, now) == 0  # the default keeps everything
            assert prune_events(30, now) == 2
        with engine.connect() as connection:
            left = set(connection.execute(select(Event.id)).scalars())
            deliveries = set(connection.execute(select(WebhookDelivery.event_id)).scalars())
    assert left == {old[2], fresh} and deliveries == {old[2], fresh}
