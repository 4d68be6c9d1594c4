"""What the document says and the server does agree where Schemathesis found them apart (issue 27):
a boolean is a JSON boolean, an unknown query parameter is refused, a copy target has the form the
document gives, and every documented pattern is one any regex engine takes."""

from __future__ import annotations

import json
import re

from tests.operator.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def document(app) -> dict:
    return app.test_client().get("/api/v1/openapi.json").json


def test_legal_hold_takes_only_true_or_false(make_app):
    app = make_app(API_TOKENS=TOKEN)
    for value in (1, 0, "true", "yes", None):
        answer = app.test_client().put("/api/v1/recordings/x/hold", json={"legal_hold": value}, headers=AUTH)
        assert answer.status_code == 400 and "legal_hold" in answer.json["error"]["fields"], value


def test_an_unknown_query_parameter_is_refused_by_name(make_app):
    app = make_app(API_TOKENS=TOKEN)
    for path in ("/api/v1/recordings?limt=5", "/api/v1/events?types=call.consent"):
        answer = app.test_client().get(path, headers=AUTH)
        assert answer.status_code == 400, path
        assert list(answer.json["error"]["fields"]) == [path.split("?")[1].split("=")[0]]


def test_the_copy_target_s_documented_form_is_the_one_taken(make_app):
    schema = document(make_app(API_TOKENS=TOKEN))["components"]["schemas"]["CopyArgs"]["properties"]["target"]
    pattern = re.compile(schema["pattern"])
    assert not pattern.search("000000")
    assert all(pattern.search(url) for url in ("s3://b/k.mp3", "gs://b/folder/", "azure://acct/c/blob.mp3"))


def test_every_documented_pattern_has_no_surrogate_in_it(make_app):
    text = json.dumps(document(make_app(API_TOKENS=TOKEN)))
    patterns = re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', text)
    assert patterns and not [p for p in patterns if re.search(r"\\\\u[dD][89a-fA-F]", p)]


def test_every_operation_documents_the_414_the_server_can_give(make_app):
    paths = document(make_app(API_TOKENS=TOKEN))["paths"]
    operations = [op for methods in paths.values() for op in methods.values() if isinstance(op, dict)]
    assert operations and all("414" in op["responses"] for op in operations)
