"""A catalogue with something in it, for the operator page's tests, and signing in as a browser does."""

import re
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import update

from app.db import db
from app.recordings.models import Call
from app.simulator.audio import audio
from tests.support import Flow, Store

TOKEN = "operator-token-0123"
SECRET_KEY = "operator-pages-test-key"


def csrf_of(client, path: str = "/login", **options) -> str:
    """The CSRF token of the sign-in form (or the sign-out form on any signed-in page)."""
    page = client.get(path, **options).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, token: str = TOKEN, **form):
    return client.post("/login", data={"token": token, "csrf_token": csrf_of(client), **form})


@pytest.fixture
def catalogue(make_app, s3_server, queue, tmp_path):
    """One verified recording (its call with consent accepted and a pause), one failed, one running."""
    store = Store("s3", s3_server, f"op-{uuid.uuid4().hex[:12]}")
    rules = tmp_path / "rules.yaml"
    rules.write_text(store.ruleset())
    app = make_app(RULES_FILE=str(rules), API_TOKENS=f"other-token,{TOKEN}", SECRET_KEY=SECRET_KEY)
    flow = Flow(app, store, queue)
    flow.good = flow.verified("op-good", audio("mp3", 2))
    uri = flow.call("op-bad")
    store.upload(uri, b"")
    flow.notify("op-bad", "recording_available", uri)
    queue.run(app)
    flow.bad = flow.one(call_id="op-bad")
    flow.call("op-live")
    flow.live = flow.one(call_id="op-live")
    with app.app_context():
        db.session.execute(update(Call).where(Call.call_id == "op-good").values(
            consent="accepted", consent_at=datetime(2026, 11, 20, 9, 0, 5, tzinfo=timezone.utc),
            consent_evidence={"type": "dtmf", "value": "1", "menu": "consent"},
            controls=[{"action": "pause", "at": "2026-11-20T09:01:00+00:00", "by": "agent-7", "reason": "card number",
                       "segment": 1},
                      {"action": "resume", "at": "2026-11-20T09:01:30+00:00", "by": "agent-7", "reason": None,
                       "segment": 2}]))
        db.session.commit()
    return flow
