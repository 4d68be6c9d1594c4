"""The database comes and goes while a spool is brought back (issue 16, item 4): the import
commits, the replay fails, and the next recovery still replays what was imported."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from app.callbacks.recovery import recover
from app.db import db
from app.recordings.models import Call, Recording
from app.simulator.audio import audio
from tests.reliability.test_database_restart import postgres_behind_a_proxy  # noqa: F401  (a fixture)
from tests.support import SinchClient


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_replay_cut_short_by_the_database_resumes_and_nothing_is_stranded(
        make_app, store, queue, postgres_behind_a_proxy, tmp_path):  # noqa: F811
    url, proxy = postgres_behind_a_proxy
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    app = make_app(DATABASE_URL=url, RULES_FILE=str(tmp_path / "rules.yaml"))
    with app.app_context():
        upgrade()
    sinch = SinchClient(app.test_client())
    ice = {"event": "ice", "callid": "flap-1", "cli": "+46701111111", "domain": "pstn",
           "to": {"type": "number", "endpoint": "+46812345678"}}
    uri = sinch.post(ice).json["instructions"][0]["options"]["destinationUrl"]
    store.upload(uri, audio("mp3", 2))

    proxy.cut()                                       # the call ends and its file arrives during an outage
    assert sinch.post({"event": "dice", "callid": "flap-1", "reason": "CALLERHANGUP", "result": "ANSWERED",
                       "duration": 2}).status_code == 200
    assert sinch.post({"event": "notify", "callid": "flap-1", "version": 1, "type": "recording_available",
                       "destination": uri}).status_code == 200
    spool = app.extensions["sinch_recorder"].spool
    assert len(spool.waiting()) == 2
    proxy.restore()
    with app.app_context():
        assert spool.import_waiting()[0] == 2         # the import commits …
        db.session.remove()
    proxy.cut()                                       # … and the database goes before the replay
    with app.app_context(), pytest.raises(Exception):
        recover(spool, 900)
    proxy.restore()
    assert app.test_client().get("/readyz").json["backlog"]["replays_pending"] == 2
    with app.app_context():
        assert recover(spool, 900) == 0               # nothing left to import, and still it replays
        db.session.remove()
    assert app.test_client().get("/readyz").json["backlog"] == {"queued": 1, "overdue": 0, "spooled": 0,
                                                                "replays_pending": 0, "quarantined": 0,
                                                                "webhooks_failing": 0}
    assert queue.run(app) == 1
    with app.app_context():
        [recording] = db.session.scalars(select(Recording).where(Recording.call_id == "flap-1")).all()
        call = db.session.get(Call, "flap-1")
        assert recording.status == "verified" and recording.expected_by is not None
        assert call.ended_at is not None and call.end_reason == "CALLERHANGUP"
