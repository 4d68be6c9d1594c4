"""Webhooks (issue 27) to real receivers on loopback, each delivery checked with the Standard
Webhooks library (``standardwebhooks`` 1.1.0), not with our code: signed, at least once, every
attempt kept, retried on the schedule, one slow endpoint delaying no other, and nothing sent
where it may not go. The dispatcher runs in the test, on a clock the test moves (retries are
minutes apart); sends are real HTTP."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from standardwebhooks import Webhook

from app.db import db
from app.events.delivery import Dispatcher
from app.simulator.audio import audio
from tests.operator.conftest import sign_in
from tests.processes import ROOT, eventually
from tests.support import Flow, Receiver, Store
from tests.tcp_proxy import TcpProxy
from tests.test_readme import fenced

TOKEN = "webhook-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODULES = ROOT / "tests" / "servers" / "node_modules"
SECRET = "whsec_" + base64.b64encode(b"a receiver's secret, 32 bytes!!!").decode()
OTHER = "whsec_" + base64.b64encode(b"another receiver's secret 32 b!!").decode()


@pytest.fixture
def receivers():
    made = []

    def receiver(secret: str = SECRET) -> Receiver:
        made.append(Receiver(secret))
        return made[-1]
    yield receiver
    for one in made:
        one.close()


class Clock:
    """The time, moved on by the test: retries minutes apart are due without waiting minutes."""

    def __init__(self):
        self.ahead = timedelta()

    def __call__(self):
        return datetime.now(timezone.utc) + self.ahead

    def advance(self, seconds: float):
        self.ahead += timedelta(seconds=seconds)


def service(make_app, tmp_path, s3_server, queue, webhooks: dict, **settings):
    """The service with these endpoints in its ruleset, a Flow to make recordings, and a
    dispatcher on a test clock."""
    store = Store("s3", s3_server, f"wh-{uuid.uuid4().hex[:12]}")
    ruleset = yaml.safe_load(store.ruleset())
    ruleset["webhooks"] = webhooks
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(ruleset))
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), API_TOKENS=TOKEN, WEBHOOKS_ALLOW_HTTP="true",
                   WEBHOOKS_ALLOW_HOSTS="127.0.0.1", WEBHOOK_TIMEOUT_SECONDS="2", WEBHOOK_RETRY_SCHEDULE="5,300",
                   **settings)
    with app.app_context():
        engine = db.engine
    clock = Clock()
    holder = app.extensions["rules"]
    dispatcher = Dispatcher(engine, lambda: holder.current.webhooks, app.extensions["settings"], clock=clock)
    return Flow(app, store, queue), dispatcher, clock


def round_of(dispatcher: Dispatcher) -> int:
    """One dispatch round, waiting for the sends it started."""
    started = dispatcher.tick()
    dispatcher.drain()
    return started


def event(app, event_id: str) -> dict:
    return app.test_client().get(f"/api/v1/events/{event_id}", headers=AUTH).json


def test_each_endpoint_gets_its_events_signed_as_the_standard_says(make_app, tmp_path, s3_server, queue, receivers):
    crm, everything = receivers(), receivers(OTHER)
    flow, dispatcher, _ = service(make_app, tmp_path, s3_server, queue, {
        "crm": {"url": crm.url, "secret": SECRET, "events": ["recording.verified", "call.*"]},
        "archive": {"url": everything.url, "secret": OTHER}})
    row = flow.verified("wh-1", audio("mp3", 2))
    round_of(dispatcher)  # crm: verified; archive: requested, available, verified
    [verified] = crm.events()
    assert verified["type"] == "recording.verified" and verified["data"]["id"] == row.id
    assert verified["data"]["sha256"] == row.sha256
    assert [e["type"] for e in everything.events()] == ["recording.requested", "recording.available",
                                                        "recording.verified"]
    headers, body = crm.received[0]
    assert headers["Webhook-Id"] == verified["id"] and json.loads(body) == verified
    with pytest.raises(Exception):  # another endpoint's secret does not verify it
        Webhook(OTHER).verify(body, headers)
    shown = event(flow.app, verified["id"])
    assert [(d["endpoint"], d["status"], [a["status_code"] for a in d["attempts"]]) for d in shown["deliveries"]] == [
        ("archive", "delivered", [200]), ("crm", "delivered", [200])]
    assert round_of(dispatcher) == 0  # delivered once: nothing is sent twice


def test_a_500_is_retried_on_the_schedule_and_every_attempt_kept(make_app, tmp_path, s3_server, queue, receivers):
    crm = receivers()
    crm.answers = [500, 503]
    flow, dispatcher, clock = service(make_app, tmp_path, s3_server, queue,
                                      {"crm": {"url": crm.url, "secret": SECRET, "events": ["recording.requested"]}})
    flow.call("wh-2")
    assert round_of(dispatcher) == 1
    clock.advance(3.9)  # the first retry comes 5 s (±20 %) later: not yet
    assert round_of(dispatcher) == 0
    clock.advance(2.2)
    assert round_of(dispatcher) == 1
    clock.advance(360)  # the second retry, 300 s (±20 %) later: the last of the schedule
    assert round_of(dispatcher) == 1
    ids = {e["id"] for e in crm.events()}
    assert len(crm.received) == 3 and len(ids) == 1  # one event, three attempts, one webhook-id
    [delivery] = event(flow.app, ids.pop())["deliveries"]
    assert delivery["status"] == "delivered"
    assert [(a["number"], a["status_code"]) for a in delivery["attempts"]] == [(1, 500), (2, 503), (3, 200)]
    assert delivery["attempts"][0]["error"] == "HTTP 500: no"


def test_when_the_schedule_is_spent_the_delivery_fails(make_app, tmp_path, s3_server, queue, receivers):
    crm = receivers()
    crm.answers = [500, 500, 500]
    flow, dispatcher, clock = service(make_app, tmp_path, s3_server, queue,
                                      {"crm": {"url": crm.url, "secret": SECRET, "events": ["recording.requested"]}})
    flow.call("wh-3")
    for _ in range(3):
        round_of(dispatcher)
        clock.advance(400)
    assert round_of(dispatcher) == 0 and len(crm.received) == 3
    health = flow.app.test_client().get("/api/v1/webhooks", headers=AUTH).json["data"]
    assert [(h["name"], h["failed"], h["pending"], h["last_success_at"]) for h in health] == [("crm", 1, 0, None)]
    assert health[0]["failing_since"] is not None


def test_a_receiver_down_then_back_gets_every_event(make_app, tmp_path, s3_server, queue, receivers):
    crm = receivers()
    proxy = TcpProxy("127.0.0.1", crm.served.server.server_port)
    try:
        flow, dispatcher, clock = service(make_app, tmp_path, s3_server, queue, {"crm": {
            "url": f"http://127.0.0.1:{proxy.port}/hook", "secret": SECRET}})
        proxy.cut()  # nothing listens: connections refused
        made = [flow.call(f"wh-down-{i}") for i in range(5)]
        for _ in range(3):  # half a minute of trying
            round_of(dispatcher)
            clock.advance(10)
        assert crm.received == []
        proxy.restore()
        clock.advance(400)
        round_of(dispatcher)  # four senders for the endpoint, each taking the next due when done
        got = crm.events()
        assert len(got) == len({e["id"] for e in got}) == len(made)  # each at least once, none missing
    finally:
        proxy.close()


def test_a_hanging_endpoint_delays_no_other(make_app, tmp_path, s3_server, queue, receivers):
    slow, fast = receivers(), receivers()
    slow.hold.clear()  # answers nothing until released (past the 2 s timeout)
    flow, dispatcher, _ = service(make_app, tmp_path, s3_server, queue, {
        "slow": {"url": slow.url, "secret": SECRET}, "fast": {"url": fast.url, "secret": SECRET}})
    flow.call("wh-4")
    assert dispatcher.tick() == 2
    eventually(lambda: len(fast.received) == 1, "the fast endpoint's delivery while the slow one hangs")
    flow.call("wh-5")
    dispatcher.tick()  # a second round while the slow send still hangs: the fast endpoint goes on
    eventually(lambda: len(fast.received) == 2, "the fast endpoint's second delivery")
    dispatcher.drain()  # the slow send gives up at the timeout
    [delivery] = [d for d in event(flow.app, fast.events()[0]["id"])["deliveries"] if d["endpoint"] == "slow"]
    assert delivery["attempts"][0]["error"] == "no answer within 2 s"


def test_no_delivery_goes_where_it_may_not(make_app, tmp_path, s3_server, queue, receivers):
    """A loopback URL not allowed by name, a redirect, plain http when not allowed: refused, kept
    as failed attempts that say why; nothing reaches the redirect's target."""
    lured = receivers()
    flow, dispatcher, _ = service(make_app, tmp_path, s3_server, queue, {
        "inside": {"url": lured.url.replace("127.0.0.1", "localhost"), "secret": SECRET},
        "redirecting": {"url": lured.url, "secret": SECRET},
        "metadata": {"url": "https://169.254.169.254/latest/meta-data", "secret": SECRET}})
    lured.answers = [302]
    flow.call("wh-6")
    round_of(dispatcher)
    assert len(lured.received) == 1  # the redirecting endpoint only; its 302 was not followed
    event_id = lured.events()[0]["id"]
    errors = {d["endpoint"]: d["attempts"][0]["error"] for d in event(flow.app, event_id)["deliveries"]}
    assert errors["inside"].startswith("refused: localhost resolves to 127.0.0.1, a loopback address")
    assert errors["metadata"].startswith("refused: 169.254.169.254 resolves to 169.254.169.254, a cloud metadata")
    assert "redirects are not followed" in errors["redirecting"]


def test_redeliver_sends_an_event_again(make_app, tmp_path, s3_server, queue, receivers):
    crm = receivers()
    flow, dispatcher, _ = service(make_app, tmp_path, s3_server, queue, {"crm": {"url": crm.url, "secret": SECRET}})
    flow.call("wh-7")
    round_of(dispatcher)
    [first] = crm.events()
    answer = flow.app.test_client().post(f"/api/v1/events/{first['id']}/redeliver", headers=AUTH)
    assert answer.status_code == 202 and answer.json == {"event_id": first["id"], "deliveries": 1}
    round_of(dispatcher)
    assert [e["id"] for e in crm.events()] == [first["id"], first["id"]]  # the receiver dedupes by webhook-id
    assert flow.app.test_client().post("/api/v1/events/evt_none/redeliver", headers=AUTH).status_code == 404


def test_webhooks_check_sends_a_test_event(make_app, tmp_path, s3_server, queue, receivers):
    crm = receivers()
    flow, _, _ = service(make_app, tmp_path, s3_server, queue, {"crm": {"url": crm.url, "secret": SECRET}})
    result = flow.app.test_cli_runner().invoke(args=["webhooks", "check", "crm"])
    assert result.exit_code == 0, result.output
    assert "ok: HTTP 200 in" in result.output and SECRET not in result.output
    [sent] = crm.events()
    assert sent["type"] == "webhook.test"
    missing = flow.app.test_cli_runner().invoke(args=["webhooks", "check", "nope"])
    assert missing.exit_code == 1 and "no webhook endpoint 'nope' in the ruleset (known: crm)" in missing.output


def test_the_readme_s_python_and_node_checks_take_a_delivery_and_refuse_a_forgery(
        make_app, tmp_path, s3_server, queue, receivers, monkeypatch):
    """The README's two examples, run as printed on a real delivery: the Python one in this
    process, the Node one with the standardwebhooks npm package (tests/servers)."""
    [python] = [block for _, block in fenced("python") if "standardwebhooks" in block]
    [node] = [block for _, block in fenced("js") if "standardwebhooks" in block]
    crm = receivers()
    flow, dispatcher, _ = service(make_app, tmp_path, s3_server, queue, {"crm": {"url": crm.url, "secret": SECRET}})
    flow.call("wh-readme")
    round_of(dispatcher)
    headers, body = crm.received[0]
    headers = {name.lower(): value for name, value in headers.items()}
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", SECRET)
    namespace: dict = {}
    exec(compile(python, "README.md", "exec"), namespace)  # noqa: S102 — the README's own example
    assert namespace["receive"](body, headers) == json.loads(body)
    with pytest.raises(Exception):
        namespace["receive"](body.replace(b"requested", b"verified!"), headers)
    script = tmp_path / "check.js"
    script.write_text("const rawBody = require('fs').readFileSync(0, 'utf8');\n"
                      f"const headers = {json.dumps(headers)};\n{node}\nconsole.log(JSON.stringify(event));\n")
    run = lambda data: subprocess.run(["node", str(script)], input=data, capture_output=True,  # noqa: E731
                                      cwd=ROOT / "tests" / "servers", env={**os.environ, "NODE_PATH": str(MODULES)})
    taken = run(body)
    assert taken.returncode == 0, taken.stderr.decode()
    assert json.loads(taken.stdout) == json.loads(body)
    forged = run(body.replace(b"requested", b"verified!"))
    assert forged.returncode != 0 and b"No matching signature found" in forged.stderr


def test_operators_see_deliveries_in_the_call_view_metrics_and_readyz(make_app, tmp_path, s3_server, queue,
                                                                     receivers):
    ok, down = receivers(), receivers()
    down.answers = [500]
    flow, dispatcher, _ = service(make_app, tmp_path, s3_server, queue, {
        "crm": {"url": ok.url, "secret": SECRET}, "pager": {"url": down.url, "secret": SECRET}},
        SECRET_KEY="operator-pages-test-key")
    flow.call("wh-ops")
    round_of(dispatcher)
    client = flow.app.test_client()
    sign_in(client, TOKEN)
    page = client.get("/calls/wh-ops").get_data(as_text=True)
    assert 'data-event="recording.requested"' in page and "crm: delivered" in page
    assert "pager: pending" in page and "HTTP 500: no" in page
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'sinch_webhook_deliveries{endpoint="crm",status="delivered"} 1.0' in metrics
    assert 'sinch_webhook_attempts_total{endpoint="pager",outcome="failed"} 1.0' in metrics
    assert 'sinch_webhook_oldest_pending_seconds{endpoint="pager"}' in metrics
    assert client.get("/readyz").json["backlog"]["webhooks_failing"] == 1
