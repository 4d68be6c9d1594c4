"""A COMMIT that reaches PostgreSQL but whose answer is lost: the reply and the catalogue agree,
and what the committed state calls for happens (issue 16, item 3)."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade

from app.callbacks.recovery import LATE_REASON
from app.simulator.audio import audio
from tests.processes import eventually
from tests.reliability.test_database_restart import postgres_behind_a_proxy  # noqa: F401  (a fixture)
from tests.support import SinchClient, journal_rows, pstn_ice, recordings_of


@pytest.fixture
def behind(make_app, store, postgres_behind_a_proxy, tmp_path):  # noqa: F811
    url, proxy = postgres_behind_a_proxy
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    app = make_app(DATABASE_URL=url, RULES_FILE=str(tmp_path / "rules.yaml"))
    with app.app_context():
        upgrade()
    return app, proxy, SinchClient(app.test_client())


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_an_ice_whose_commit_answer_is_lost_is_answered_with_what_was_committed(behind):
    app, proxy, sinch = behind
    proxy.lose_the_answer_to_next(b"COMMIT")
    reply = sinch.post(pstn_ice("lost-1"))
    assert reply.status_code == 200
    assert [i["name"] for i in reply.json["instructions"]] == ["startRecording"]  # not the fallback
    [row] = recordings_of(app, "lost-1")
    assert row.status == "requested" and row.destination_url == reply.json["instructions"][0]["options"]["destinationUrl"]
    [entry] = [e for e in journal_rows(app) if e.call_id == "lost-1"]
    assert entry.outcome == "answered" and entry.rule_id == "record-all"
    assert proxy.lose_answer_to is None  # the fault really happened


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_recording_available_whose_commit_answer_is_lost_is_still_verified(behind, store, queue):
    app, proxy, sinch = behind
    uri = sinch.post(pstn_ice("lost-2")).json["instructions"][0]["options"]["destinationUrl"]
    store.upload(uri, audio("mp3", 2))
    proxy.lose_the_answer_to_next(b"COMMIT")
    assert sinch.post({"event": "notify", "callid": "lost-2", "version": 1, "type": "recording_available",
                       "destination": uri}).status_code == 200
    assert proxy.lose_answer_to is None
    assert queue.run(app) == 1  # the verification was queued from the committed move
    [row] = recordings_of(app, "lost-2")
    assert row.status == "verified"


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_lost_commit_answer_with_the_database_gone_is_settled_when_the_spool_comes_back(behind):
    """The COMMIT went through, its answer was lost and PostgreSQL went away with it: nothing can
    tell, so the call gets the fallback and the entry is spooled. When the spool is imported, the
    stored decision is found beside it: the journal says what was answered and the recording that
    Sinch was never asked for is withdrawn, instead of waiting for a file that never comes."""
    app, proxy, sinch = behind
    proxy.lose_the_answer_to_next(b"COMMIT", then_cut=True)
    reply = sinch.post(pstn_ice("lost-3"))
    assert reply.status_code == 200 and reply.json["action"]["name"] == "connectPstn"
    assert not any(i["name"] == "startRecording" for i in reply.json.get("instructions", []))
    assert proxy.lose_answer_to is None
    proxy.restore()
    sinch.post(pstn_ice("lost-4"))                     # a success brings the spool back (in a thread)
    [entry] = eventually(lambda: [e for e in journal_rows(app) if e.call_id == "lost-3" and e.outcome == "fallback"],
                         "the stored entry settled to the fallback the call got")
    assert entry.rule_id is None and entry.decision is None and "connectPstn" in entry.reply
    [row] = recordings_of(app, "lost-3")
    assert row.status == "failed" and row.failure_reason == LATE_REASON
