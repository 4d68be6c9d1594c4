"""Downloads (presigned links in each cloud) and a call's recordings, through the API."""

import hashlib

import pytest
import requests

from tests.support import Flow

TOKEN = "download-token"


@pytest.fixture
def api_flow(make_app, store, queue, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(store.ruleset())
    app = make_app(RULES_FILE=str(rules), API_TOKENS=TOKEN)
    flow = Flow(app, store, queue)
    flow.api = lambda path, **params: app.test_client().get(
        f"/api/v1{path}", query_string=params, headers={"Authorization": f"Bearer {TOKEN}"})
    return flow


def test_a_verified_recording_downloads_through_a_presigned_link(api_flow):
    row = api_flow.verified("dl-1")
    response = api_flow.api(f"/recordings/{row.id}/download", expires_in=120)
    assert response.status_code == 200, response.json
    link = response.json["url"]
    assert response.json["expires_at"] and TOKEN not in link
    assert response.headers["Cache-Control"] == "no-store"  # the link is as good as a key while it lasts
    fetched = requests.get(link, timeout=10)
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == row.sha256


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_only_verified_recordings_download(api_flow):
    api_flow.call("dl-2")
    row = api_flow.one(call_id="dl-2")
    refused = api_flow.api(f"/recordings/{row.id}/download")
    assert refused.status_code == 409 and "is requested: only verified" in refused.json["error"]["message"]
    assert api_flow.api("/recordings/nope/download").status_code == 404
    bad = api_flow.api(f"/recordings/{row.id}/download", expires_in=5)
    assert bad.status_code == 400 and "expires_in" in bad.json["error"]["fields"]


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_calls_recordings_and_the_active_one(api_flow):
    uri = api_flow.call("act-1")
    active = api_flow.api("/calls/act-1/recordings/active")
    assert active.status_code == 200 and active.json["destination_url"] == uri
    assert [r["segment"] for r in api_flow.api("/calls/act-1/recordings").json["data"]] == [1]
    api_flow.notify("act-1", "recording_finished", uri)
    assert api_flow.api("/calls/act-1/recordings/active").status_code == 404
    assert api_flow.api("/calls/none/recordings").json == {"data": [], "pauses": []}
