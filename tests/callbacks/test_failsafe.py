"""With the database gone, calls are still answered (fallback SVAML) and nothing is lost."""

import json
import os
import shutil
import threading

import pytest
from flask_migrate import upgrade
from prometheus_client import REGISTRY

from app.db import db
from tests import payloads
from tests.support import SinchClient, journal_rows

FALLBACK = {"instructions": [{"name": "say", "text": "Connecting you."}],
            "action": {"name": "connectPstn", "number": "+46800000000"}}


def counter(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("url", [
    "postgresql://nobody@127.0.0.1:1/none",           # nothing listens there
    "sqlite:////nonexistent-dir/for/sure/journal.db",  # cannot be opened
])
def test_database_unreachable_from_the_start(make_app, url):
    app = make_app(DATABASE_URL=url, SINCH_FALLBACK_ICE_SVAML=json.dumps(FALLBACK))
    sinch = SinchClient(app.test_client())
    failures = counter("sinch_journal_failures_total")
    fallbacks = counter("sinch_fallback_replies_total", event="ice")

    for payload in (payloads.ICE_PSTN, payloads.ICE_MXP, payloads.ICE_SIP):
        response = sinch.post(payload)
        assert response.status_code == 200 and response.json == FALLBACK
    assert sinch.post(payloads.ACE).json == {"action": {"name": "continue"}}
    assert sinch.post(payloads.DICE).status_code == 200
    assert sinch.post(payloads.NOTIFY_AVAILABLE).status_code == 200

    assert counter("sinch_journal_failures_total") == failures + 6
    assert counter("sinch_fallback_replies_total", event="ice") == fallbacks + 3
    spool = app.extensions["sinch_recorder"].spool.waiting()
    assert [e["event"] for e in spool] == ["ice", "ice", "ice", "ace", "dice", "notify"]
    assert all(e["outcome"] in ("fallback", "accepted") for e in spool)
    assert json.loads(spool[0]["reply"]) == FALLBACK
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["database"].startswith("unavailable")
    assert "nobody" not in ready.get_data(as_text=True)


def recovery_done() -> None:
    """Wait for the spool recovery a first successful write starts (a process looks for anything
    left from before its start), so that it cannot race what a test does next."""
    for thread in [t for t in threading.enumerate() if t.name == "spool-recovery"]:
        thread.join(30)


def test_database_lost_mid_run_then_recovered_from_the_spool(make_app, tmp_path):
    path = tmp_path / "db" / "journal.db"
    path.parent.mkdir()
    url = f"sqlite:///{path}"
    app = make_app(DATABASE_URL=url)
    with app.app_context():
        upgrade()
    sinch = SinchClient(app.test_client())
    assert sinch.post(payloads.ICE_PSTN).status_code == 200
    recovery_done()  # else it may import the spool below itself, before the command counts it

    # The database disappears: its folder is gone and cannot be recreated by SQLite.
    with app.app_context():
        db.engine.dispose()
    kept = tmp_path / "kept"
    shutil.move(path.parent, kept)
    path.parent.write_text("not a folder")

    response = sinch.post(payloads.ICE_SIP)
    assert response.status_code == 200
    assert response.json == {"action": {"name": "connectSip", "destination": payloads.ICE_SIP["to"]}}
    assert sinch.post(payloads.DICE).status_code == 200

    # Back again: the spooled callbacks are imported and the journal is whole.
    os.remove(path.parent)
    shutil.move(kept, path.parent)
    result = app.test_cli_runner().invoke(args=["journal", "spool"])
    assert "2 callback(s) waiting" in result.output
    result = app.test_cli_runner().invoke(args=["journal", "spool", "--import"])
    assert result.exit_code == 0 and "imported 2" in result.output
    rows = journal_rows(app)
    assert [(r.event, r.outcome) for r in rows] == [("ice", "answered"), ("ice", "fallback"), ("dice", "accepted")]
    assert rows[1].body == json.dumps(payloads.ICE_SIP).encode()
    assert app.extensions["sinch_recorder"].spool.waiting() == []


def test_spool_import_while_still_down_says_what_to_do(make_app):
    app = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    SinchClient(app.test_client()).post(payloads.ACE)
    result = app.test_cli_runner().invoke(args=["journal", "spool", "--import"])
    assert result.exit_code != 0 and "still unavailable" in result.output and "try again" in result.output
    assert len(app.extensions["sinch_recorder"].spool.waiting()) == 1


def test_a_decision_that_cannot_be_stored_falls_back_but_is_journaled(make_app, monkeypatch):
    from app.callbacks import handler

    def broken_save(*args, **kwargs):
        raise RuntimeError("constraint")
    monkeypatch.setattr(handler, "save_decision", broken_save)
    app = make_app()
    response = SinchClient(app.test_client()).post(payloads.ICE_SIP)
    assert response.status_code == 200 and response.json["action"]["name"] == "connectSip"
    [row] = journal_rows(app)
    assert row.outcome == "fallback" and row.error == "the decision could not be stored" and row.rule_id is None
    assert app.extensions["sinch_recorder"].spool.waiting() == []


def test_the_spool_comes_back_by_itself_when_the_database_does(make_app, tmp_path):
    path = tmp_path / "db" / "journal.db"
    path.parent.mkdir()
    app = make_app(DATABASE_URL=f"sqlite:///{path}")
    with app.app_context():
        upgrade()
    sinch = SinchClient(app.test_client())
    sinch.post(payloads.ICE_PSTN)
    recovery_done()  # the first write looks for anything left from before a start: let it finish
    with app.app_context():
        db.engine.dispose()
    shutil.move(path.parent, tmp_path / "kept")
    path.parent.write_text("not a folder")
    sinch.post(payloads.DICE)                      # spooled: the database is gone
    sinch.post(payloads.NOTIFY_FINISHED)
    os.remove(path.parent)
    shutil.move(tmp_path / "kept", path.parent)
    sinch.post(payloads.ACE)                       # stored: the database is back; recovery starts
    recovery_done()
    assert [r.event for r in journal_rows(app)] == ["ice", "ace", "dice", "notify"]
    assert app.extensions["sinch_recorder"].spool.waiting() == []
    from app.recordings.models import Call
    with app.app_context():
        assert db.session.get(Call, payloads.DICE["callid"]).end_reason == "CALLERHANGUP"  # replayed


def test_journal_writes_are_idempotent_by_our_own_entry_id(app, tmp_path):
    from datetime import datetime, timezone

    from app import journal

    def entry(request_id):
        return journal.Entry(received_at=datetime.now(timezone.utc), request_id=request_id, path="/sinch/callback",
                             content_type="application/json", body=b"{}", signature="ok", status_code=200,
                             outcome="accepted", handling_ms=1.0)

    first, same_request_id = entry("client-chosen"), entry("client-chosen")
    with app.app_context():
        assert journal.store(first) is None
        assert journal.store_again(first.entry_id, first) == journal.COMMITTED  # found: not stored twice
        spool = journal.Spool(tmp_path)
        spool.put(first, RuntimeError("seen as failed"))
        spool.put(same_request_id, RuntimeError("down"))
        assert spool.import_waiting()[0] == 1                    # the stored one is skipped
    rows = journal_rows(app)
    assert len(rows) == 2 and {r.entry_id for r in rows} == {first.entry_id, same_request_id.entry_id}
    assert [r.request_id for r in rows] == ["client-chosen", "client-chosen"]  # both kept
