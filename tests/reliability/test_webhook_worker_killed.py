"""A worker SIGKILLed in the middle of a webhook delivery (issue 27): the delivery is tried again
by another worker once the dead one's claim runs out — never lost — and two live workers never
send one attempt at once. Real worker processes (the Procfile's), a real receiver on loopback."""

from __future__ import annotations

import base64
import os
import signal
import threading

from flask import Flask, request
from standardwebhooks import Webhook

from app.db import db
from app.events import log as event_log
from app.events.feed import detail
from tests.processes import Served, eventually, huey_worker
from tests.support import APP_KEY, APP_SECRET

SECRET = "whsec_" + base64.b64encode(b"the drill receiver's 32-byte key").decode()


def test_a_delivery_in_flight_when_its_worker_is_killed_is_sent_again(make_app, database_url, tmp_path):
    received, first_in, release = [], threading.Event(), threading.Event()
    receiver = Flask("receiver")

    @receiver.post("/hook")
    def hook():
        received.append((dict(request.headers), request.get_data()))
        if len(received) == 1:
            first_in.set()
            release.wait(30)  # the first attempt hangs: its worker is killed meanwhile
        return "ok"

    served = Served(receiver)
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"version: 1\nallow_literal_credentials: true\nwebhooks:\n"
                     f"  crm: {{url: '{served.url}/hook', secret: '{SECRET}'}}\n"
                     "rules:\n  - id: default\n    record: false\n    connect: dialled\n")
    settings = {"DATABASE_URL": database_url, "RULES_FILE": str(rules), "SINCH_APPLICATION_KEY": APP_KEY,
                "SINCH_APPLICATION_SECRET": APP_SECRET, "WEBHOOKS_ALLOW_HTTP": "true",
                "WEBHOOKS_ALLOW_HOSTS": "127.0.0.1", "WEBHOOK_TIMEOUT_SECONDS": "1", "WEBHOOK_POLL_SECONDS": "0.2",
                "INSTANCE_PATH": str(tmp_path / "instance"), "HUEY_SQLITE_PATH": str(tmp_path / "huey.db")}
    app = make_app(**{key: value for key, value in settings.items() if key != "DATABASE_URL"})
    with app.app_context(), db.engine.begin() as connection:
        event_id = event_log.append(connection, "call.consent", {"call_id": "drill", "consent": "accepted"},
                                    call_id="drill")
    try:
        with huey_worker(settings, tmp_path / "first.log") as first:
            assert first_in.wait(60), "the first worker never sent the delivery"
            os.killpg(first.pid, signal.SIGKILL)  # mid-delivery: no answer read, nothing recorded
            first.wait(10)
        release.set()
        with huey_worker(settings, tmp_path / "second.log"), huey_worker(settings, tmp_path / "third.log"):
            shown = eventually(lambda: _delivered(app, event_id), "a live worker to deliver it again", deadline=60)
    finally:
        release.set()
        served.close()
    assert len(received) == 2  # the killed attempt and one retry: the two live workers did not both send
    assert {Webhook(SECRET).verify(body, headers)["id"] for headers, body in received} == {event_id}
    [delivery] = shown["deliveries"]
    assert [a["status_code"] for a in delivery["attempts"]] == [200]  # the killed one left no attempt behind


def _delivered(app, event_id: str) -> dict | None:
    with app.app_context(), db.engine.connect() as connection:
        shown = detail(connection, event_id)
    return shown if shown["deliveries"] and shown["deliveries"][0]["status"] == "delivered" else None
