"""Bad input to the API and the operator page gets a 4xx naming the problem, never a 500 (issue 13)."""

from __future__ import annotations

import pytest

from tests.operator.conftest import SECRET_KEY, TOKEN, sign_in

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(make_app):
    return make_app(API_TOKENS=TOKEN, SECRET_KEY=SECRET_KEY).test_client()


@pytest.mark.parametrize("route", ["/api/v1/recordings/abc/copy", "/api/v1/recordings/abc/hold",
                                   "/api/v1/calls/abc/recording"])
@pytest.mark.parametrize("body", [b"{", b"\x00", b"[1,", b'{"a": "\\ud800"'])
def test_a_body_that_is_not_json_is_a_400(client, route, body):
    method = client.put if not route.endswith("/copy") else client.post
    response = method(route, data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.data
    assert response.json["error"]["message"]


@pytest.mark.parametrize("query", [
    "since=0001-01-01T00:00:00%2B01:00", "until=9999-12-31T23:59:59-01:00",
    "cursor=" + "W" * 1600, "cursor=" + "%5B" * 1200, "call_id=a%00b", "rule_id=x%00",
])
def test_filters_no_database_can_hold_are_a_400(client, query):
    response = client.get(f"/api/v1/recordings?{query}", headers=AUTH)
    assert response.status_code == 400, response.data
    assert response.json["error"]["fields"] or response.json["error"]["message"]


def test_a_forged_cursor_of_nested_brackets_or_a_naive_time_is_refused(client):
    import base64
    import json

    for forged in (b"[" * 1200, json.dumps(["2026-01-01T00:00:00", "x"]).encode(),
                   json.dumps(["0001-01-01T00:00:00+01:00", "x"]).encode()):
        cursor = base64.urlsafe_b64encode(forged).decode().rstrip("=")
        response = client.get(f"/api/v1/recordings?cursor={cursor}", headers=AUTH)
        assert response.status_code == 400 and "cursor" in response.json["error"]["fields"]


@pytest.mark.parametrize("path", ["/api/v1/recordings/a%00b", "/api/v1/calls/a%00b/recordings",
                                  "/api/v1/recordings/a%00b/download", "/api/v1/copies/a%00b"])
def test_a_nul_in_an_id_is_a_400_naming_it(client, path):
    response = client.get(path, headers=AUTH)
    assert response.status_code == 400 and "contains a character no id has" in response.json["error"]["message"]


def test_a_copy_key_with_a_lone_surrogate_is_refused_naming_it(client):
    response = client.post("/api/v1/recordings/abc/copy", data=b'{"destination": "x", "key": "a\\ud800b"}',
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400 and "key" in response.json["error"]["fields"]


def test_sign_in_with_a_line_break_in_next_goes_home(client):
    response = sign_in(client, next="/\r\nSet-Cookie: x=1")
    assert response.status_code == 302 and response.headers["Location"] == "/"
