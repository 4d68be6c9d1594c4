"""The operator page under a generated hostile corpus (issue 13): every query field of the list,
every id in a path, every field of the sign-in form, and the cookie and Authorization headers, each
given every hostile text in turn, signed in and not. Never a 5xx, never a secret in an answer."""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

from tests.operator.conftest import SECRET_KEY, TOKEN, csrf_of, sign_in
from tests.support import HOSTILE_URL_TEXT

QUERY_FIELDS = ["status", "call_id", "rule_id", "consent", "since", "until", "cursor", "next"]
PATHS = ["/recordings/{}", "/calls/{}"]
HEADER_TEXT = ["", "session=", "session=" + "A" * 4000, "session=eyJzaWQiOiJ4In0.bad.sig", "\x7f", "é" * 300,
               "Bearer ", f"Bearer {TOKEN}x", "Basic Zm9vOmJhcg==", "Bearer " + "%00" * 10]


def test_the_generated_operator_corpus_gets_no_5xx_and_no_secret(catalogue):
    app = catalogue.app
    signed = app.test_client()
    assert sign_in(signed).status_code == 302
    anonymous = app.test_client()
    outcomes, sent = Counter(), 0

    def check(response):
        nonlocal sent
        sent += 1
        outcomes[response.status_code] += 1
        text = response.get_data(as_text=True)
        assert response.status_code < 500, (response.request.url[:300], text[:300])
        assert TOKEN not in text and SECRET_KEY not in text and TOKEN not in response.headers.get("Location", "")

    for client in (signed, anonymous):
        for field in QUERY_FIELDS:
            for value in HOSTILE_URL_TEXT:
                check(client.get(f"/?{field}={value}&status="))
        for path in PATHS:
            for value in HOSTILE_URL_TEXT:
                check(client.get(path.format(value or "%20")))
        for header in ("Cookie", "Authorization"):
            for text in HEADER_TEXT:
                check(client.get("/", headers={header: text}))
    for field in ("token", "next", "csrf_token"):
        for value in HOSTILE_URL_TEXT:
            form = {"token": TOKEN, "next": "/", "csrf_token": csrf_of(anonymous), field: value}
            body = "&".join(f"{name}={quote(text, safe='%')}" for name, text in form.items())
            check(anonymous.post("/login", data=body, content_type="application/x-www-form-urlencoded"))
    print(f"operator corpus: {sent} requests, {dict(outcomes)}")
    assert sent >= 500, sent
    assert outcomes[200] and outcomes[400] and outcomes[302] and outcomes[404], outcomes
    assert signed.get("/").status_code == 200  # and the page still works
