"""The API under a hostile corpus of our own, generated from its OpenAPI document (issue 13): for
every operation, each path and query parameter in turn given each hostile text, and each property
of a JSON body in turn given each hostile value; with a token and without. Never a 5xx; every
refusal is the service's JSON error naming the problem; no secret in any answer."""

from __future__ import annotations

import json
import re
from collections import Counter

from tests.callbacks.test_hostile_corpus import HOSTILE as HOSTILE_VALUES
from tests.operator.conftest import TOKEN
from tests.support import APP_SECRET, HOSTILE_URL_TEXT

AUTH = {"Authorization": f"Bearer {TOKEN}"}

def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):  # path parameters sit on the path item
                yield path, method, {**operation, "parameters": item.get("parameters", []) +
                                     operation.get("parameters", [])}


def body_properties(document: dict, operation: dict) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    names = set(schema.get("properties", {}))
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        if "$ref" in option:
            option = document["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
        names |= set(option.get("properties", {}))
    return sorted(names)


def test_the_generated_api_corpus_gets_no_5xx_and_clear_errors(make_app):
    app = make_app(API_TOKENS=TOKEN)
    client = app.test_client()
    document = client.get("/api/v1/openapi.json").json
    outcomes, sent = Counter(), 0

    def check(response, what: str):
        nonlocal sent
        sent += 1
        outcomes[response.status_code] += 1
        text = response.get_data(as_text=True)
        assert response.status_code < 500, (what, text[:300])
        assert TOKEN not in text and APP_SECRET not in text, what
        if response.status_code >= 400 and response.mimetype == "application/json":
            assert response.json["error"]["message"], (what, text[:300])

    for path, method, operation in operations(document):
        parameters = operation.get("parameters", [])
        base = re.sub(r"\{[^}]+\}", "abc", path)
        call = getattr(client, method)
        for parameter in parameters:
            for text in HOSTILE_URL_TEXT:
                if parameter["in"] == "path":
                    url = path.replace("{" + parameter["name"] + "}", text)
                    url = re.sub(r"\{[^}]+\}", "abc", url)
                elif parameter["in"] == "query":
                    url = f"{base}?{parameter['name']}={text}"
                else:
                    continue
                for headers in (AUTH, {}):
                    check(call(url, headers=headers), f"{method.upper()} {url[:120]}")
        for name in body_properties(document, operation):
            for value in HOSTILE_VALUES:
                body = json.dumps({name: value}).encode()
                for headers in (AUTH, {}):
                    check(call(base, data=body, headers={**headers, "Content-Type": "application/json"}),
                          f"{method.upper()} {base} {name}={json.dumps(value)[:60]}")
    print(f"API corpus: {sent} requests, {dict(outcomes)}")
    assert sent >= 1000, sent
    assert outcomes[401] and outcomes[400] and outcomes[404], outcomes
