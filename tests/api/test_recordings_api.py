import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from app.db import db
from app.recordings.models import Recording

TOKEN = "test-token-123"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
FIELDS = {"id", "call_id", "conference_id", "segment", "status", "rule_id", "destination_url", "format",
          "size_bytes", "duration_ms", "sha256", "content_type", "requested_at", "finished_at", "available_at",
          "verified_at", "failure_reason", "pending_reason", "transcription_url", "retain_until", "legal_hold",
          "deletion", "copied_from", "ruleset_hash"}


@pytest.fixture
def api(make_app):
    app = make_app(API_TOKENS=f"other-token, {TOKEN}")
    client = app.test_client()

    class Api:
        def get(self, path, token=TOKEN, **params):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return client.get(f"/api/v1{path}", query_string=params, headers=headers)

        def add(self, n=1, start=T0, **values):
            made = []
            with app.app_context():
                for i in range(n):
                    row = Recording(id=uuid.uuid4().hex, call_id=values.get("call_id", f"call-{uuid.uuid4().hex[:6]}"),
                                    segment=1, status=values.get("status", "requested"),
                                    rule_id=values.get("rule_id", "r1"), format="mp3",
                                    destination_url=f"s3://b/{uuid.uuid4().hex}.mp3",
                                    requested_at=start + timedelta(seconds=i))
                    db.session.add(row)
                    made.append(row.id)
                db.session.commit()
            return made

    return Api()


def test_tokens_are_required(api, make_app):
    assert api.get("/recordings").status_code == 200
    assert api.get("/recordings", token="other-token").status_code == 200
    missing = api.get("/recordings", token=None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.json["error"]["code"] == "unauthorized" and "API_TOKENS" in missing.json["error"]["message"]
    wrong = api.get("/recordings", token="nope")
    assert wrong.status_code == 401 and wrong.json["error"]["message"] == "the bearer token is not valid"
    disabled = make_app().test_client().get("/api/v1/recordings", headers={"Authorization": "Bearer x"})
    assert disabled.status_code == 403 and "set API_TOKENS" in disabled.json["error"]["message"]


def test_a_recording_has_exactly_the_documented_fields(api):
    [made] = api.add()
    got = api.get(f"/recordings/{made}")
    assert got.status_code == 200 and set(got.json) == FIELDS and got.json["id"] == made
    missing = api.get("/recordings/nope")
    assert missing.status_code == 404 and "no recording nope" in missing.json["error"]["message"]


def test_filters(api):
    api.add(3, status="verified", call_id="c-a", rule_id="support")
    api.add(2, status="failed", call_id="c-b", rule_id="sales", start=T0 + timedelta(days=1))
    assert len(api.get("/recordings", status="verified").json["data"]) == 3
    assert {r["call_id"] for r in api.get("/recordings", call_id="c-b").json["data"]} == {"c-b"}
    assert len(api.get("/recordings", rule_id="sales").json["data"]) == 2
    assert len(api.get("/recordings", since=(T0 + timedelta(hours=1)).isoformat()).json["data"]) == 2
    assert len(api.get("/recordings", until=(T0 + timedelta(hours=1)).isoformat()).json["data"]) == 3


@pytest.mark.parametrize("params, field", [
    ({"status": "lost"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "9999"}, "limit"),
    ({"limit": "ten"}, "limit"), ({"cursor": "garbage!"}, "cursor"), ({"since": "2026-11-01T10:00:00"}, "since"),
])
def test_bad_arguments_name_the_field(api, params, field):
    response = api.get("/recordings", **params)
    assert response.status_code == 400 and field in response.json["error"]["fields"]


def test_keyset_paging_walks_everything_once_even_while_rows_arrive(api):
    api.add(25)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = api.get("/recordings", **params).json
        seen += [r["id"] for r in body["data"]]
        pages += 1
        if pages == 1:
            api.add(5, start=T0 + timedelta(days=2))  # newer rows arrive after page one
        cursor = body["paging"]["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 25 and len(set(seen)) == 25
    times = [api.get(f"/recordings/{i}").json["requested_at"] for i in seen]
    assert times == sorted(times, reverse=True)


def test_the_openapi_document_is_served_without_a_token_and_is_valid(api):
    from openapi_spec_validator import validate

    document = api.get("/openapi.json", token=None)
    assert document.status_code == 200
    validate(document.json)  # a valid OpenAPI 3 document
    paths = document.json["paths"]
    assert {"/api/v1/recordings", "/api/v1/recordings/{recording_id}", "/api/v1/recordings/{recording_id}/download",
            "/api/v1/calls/{call_id}/recording", "/api/v1/calls/{call_id}/recordings/active"} <= set(paths)
    assert "/api/v1/recordings/{recording_id}/copy" in paths and "/api/v1/copies/{job_id}" in paths
    schemas = document.json["components"]["schemas"]
    assert schemas["CopyArgs"]["properties"]["credentials"]["writeOnly"] is True  # taken in, never given out
    others = {name: schema for name, schema in schemas.items() if name != "CopyArgs"}
    assert "credentials" not in json.dumps(others)
