"""Retention and deletion: the object first, then the row with a receipt; legal hold wins."""

from datetime import timedelta

import pytest

from app.recordings.retention import purge
from app.storage import NotFound, parse_location, reader
from tests.support import Flow

TOKEN = "retention-token"


@pytest.fixture
def kept(make_app, store, queue, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(store.ruleset(retain_days=30))
    app = make_app(RULES_FILE=str(rules), API_TOKENS=TOKEN)
    flow = Flow(app, store, queue)
    client = app.test_client()
    flow.http = lambda method, path, **kw: client.open(f"/api/v1{path}", method=method,
                                                       headers={"Authorization": f"Bearer {TOKEN}"}, **kw)
    return flow


def gone(flow, uri) -> bool:
    try:
        reader(flow.store.scheme, flow.store.read).stat(parse_location(uri))
        return False
    except NotFound:
        return True


def test_retention_deletes_the_object_then_the_row_with_a_receipt(kept):
    row = kept.verified("ret-1")
    assert row.retain_until == row.requested_at + timedelta(days=30)
    with kept.app.app_context():
        assert purge(kept.app.extensions["rules"].current, row.requested_at + timedelta(days=29))["due"] == 0
        report = purge(kept.app.extensions["rules"].current, row.requested_at + timedelta(days=31))
    assert report == {"due": 1, "deleted": 1, "failed": 0, "errors": []}
    after = kept.one(call_id="ret-1")
    assert after.status == "deleted" and after.deleted_at is not None
    assert after.deletion["by"] == "retention" and after.deletion["sha256"] == row.sha256
    assert gone(kept, row.destination_url)


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_legal_hold_blocks_retention_and_deletion(kept):
    row = kept.verified("hold-1")
    held = kept.http("PUT", f"/recordings/{row.id}/hold", json={"legal_hold": True})
    assert held.status_code == 200 and held.json["legal_hold"] is True
    with kept.app.app_context():
        assert purge(kept.app.extensions["rules"].current, row.requested_at + timedelta(days=365))["due"] == 0
    refused = kept.http("DELETE", f"/recordings/{row.id}")
    assert refused.status_code == 409 and "legal hold" in refused.json["error"]["message"]
    assert not gone(kept, row.destination_url)
    kept.http("PUT", f"/recordings/{row.id}/hold", json={"legal_hold": False})
    deleted = kept.http("DELETE", f"/recordings/{row.id}?reason=customer+request")
    assert deleted.status_code == 200 and deleted.json["status"] == "deleted"
    assert deleted.json["deletion"]["reason"] == "customer request" and deleted.json["deletion"]["by"] == "api"
    assert gone(kept, row.destination_url)
    assert kept.http("DELETE", f"/recordings/{row.id}").status_code == 200  # idempotent


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_recording_still_running_is_not_deleted_and_the_cli_purges(kept):
    kept.call("live-1")
    live = kept.one(call_id="live-1")
    refused = kept.http("DELETE", f"/recordings/{live.id}")
    assert refused.status_code == 409 and "wait until the call has ended" in refused.json["error"]["message"]
    assert kept.http("PUT", "/recordings/nope/hold", json={"legal_hold": True}).status_code == 404
    assert kept.http("PUT", f"/recordings/{live.id}/hold", json={}).status_code == 400
    kept.verified("cli-1")
    runner = kept.app.test_cli_runner()
    assert "0 recording(s) past retention would be deleted" in runner.invoke(args=["recordings", "purge",
                                                                                   "--dry-run"]).output


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_purge_dry_run_lists_what_it_would_delete_and_deletes_nothing(kept):
    from app.db import db
    from app.recordings.models import Recording

    row = kept.verified("dry-1")
    with kept.app.app_context():
        db.session.execute(db.update(Recording).where(Recording.id == row.id)
                           .values(retain_until=row.requested_at - timedelta(days=1)))
        db.session.commit()
    listed = kept.app.test_cli_runner().invoke(args=["recordings", "purge", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert "1 recording(s) past retention would be deleted:" in listed.output
    line = next(text for text in listed.output.splitlines() if row.id in text)
    assert "call dry-1" in line and row.destination_url in line and "retain_until " in line
    assert kept.one(call_id="dry-1").status == "verified" and not gone(kept, row.destination_url)
