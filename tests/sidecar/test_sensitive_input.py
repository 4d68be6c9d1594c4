"""Sensitive input in front of a payment IVR (issue 26): a sidecar upstream that records the call
itself and asks for a card number (an unnamed 16-digit menu) and a CVV (a menu the ruleset
names). The upstream receives the real digits, re-signed; nothing we keep or show holds them —
every table, the spool, the logs, /metrics, the API and the operator page are scanned for the
canaries — and the recording pauses for the menus and resumes after them."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timezone

import pytest
from flask import Flask, jsonify, request
from sqlalchemy import select

from app.db import db
from app.journal import JournalEntry
from app.sinch.signing import verify
from tests.operator.conftest import sign_in
from tests.processes import Served
from tests.support import APP_KEY, APP_SECRET, SinchClient

CARD, CVV = "4000056655665556", "7391"
PATH = "/ivr/callback"
TOKEN = "pci-test-token"
UPSTREAM_OPTIONS = {"destinationUrl": "s3://upstream-own/{callid}-{segment}.mp3",
                    "credentials": "UPKEY:upsecret:eu-west-1"}
RULES = """
version: 1
allow_literal_credentials: true
sensitive: {menus: [cvv], min_digits: 12}
destinations:
  store: {url: 's3://recordings/{callid}-{segment}.{format}', sinch_credentials: 'WKEY:wsecret:eu-north-1'}
rules:
  - id: payments
    record: {destination: store}
"""
PAY_MENU = {"id": "main", "mainPrompt": "#tts[Press 1 to pay]", "maxDigits": 1,
            "options": [{"dtmf": "1", "action": "return(pay)"}]}
CARD_MENU = {"id": "main", "mainPrompt": "#tts[Key your card number, then hash]", "maxDigits": 16}
CVV_MENUS = [{"id": "main", "mainPrompt": "#tts[Press 1]", "maxDigits": 1,
              "options": [{"dtmf": "1", "action": "menu(cvv)"}]},
             {"id": "cvv", "mainPrompt": "#tts[Key the code on the back]", "maxDigits": 4}]


def payment_ivr() -> Flask:
    """The team's IVR: records the call itself, reads the card back (an echo we must not keep)."""
    app = Flask("payment-ivr")
    app.received = []
    secret = {APP_KEY: base64.b64decode(APP_SECRET)}

    @app.post(PATH)
    def callback():
        body = request.get_data()
        verdict = verify(authorization=request.headers.get("Authorization"),
                         timestamp=request.headers.get("x-timestamp"), content_type=request.headers.get("Content-Type"),
                         method="POST", path=request.path, body=body, applications=secret, max_skew=600,
                         now=datetime.now(timezone.utc))
        app.received.append((verdict.reason, body))
        event = json.loads(body)
        if event["event"] == "ice":
            return jsonify(instructions=[{"name": "startRecording", "options": UPSTREAM_OPTIONS}],
                           action={"name": "runMenu", "menus": [PAY_MENU]})
        if event["event"] != "pie":
            return "", 200
        result = event["menuResult"]
        if result["value"] == "pay":
            return jsonify(action={"name": "runMenu", "menus": [CARD_MENU]})
        if result["menuId"] == "main":
            return jsonify(instructions=[{"name": "say", "text": f"You keyed {' '.join(result['value'])}."},
                                         {"name": "setCookie", "key": "card", "value": result["value"]}],
                           action={"name": "runMenu", "mainMenu": "cvv", "menus": CVV_MENUS})
        return jsonify(instructions=[{"name": "say", "text": "Thank you, payment taken."}],
                       action={"name": "connectPstn", "number": "+46855500000"})

    return app


@pytest.fixture
def ivr():
    app = payment_ivr()
    served = Served(app)
    served.received = app.received
    yield served
    served.close()


@pytest.fixture
def sidecar(make_app, ivr, tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    settings = dict(RULES_FILE=str(tmp_path / "rules.yaml"), UPSTREAM_CALLBACK_URL=ivr.url + PATH,
                    UPSTREAM_TIMEOUT_MS="3000", API_TOKENS=TOKEN, SECRET_KEY="pci-pages-key")
    app = make_app(**settings)
    app.settings = settings
    app.sinch = SinchClient(app.test_client())
    return app


def pie(callid, menu, value, kind="sequence"):
    return {"event": "pie", "callid": callid, "version": 1, "applicationKey": APP_KEY,
            "menuResult": {"menuId": menu, "type": kind, "value": value, "inputMethod": "dtmf"}}


def names(reply):
    return [i["name"] for i in reply.get("instructions", [])]


def everything_kept(app) -> str:
    """Every row of every table, as text (bytes decoded), for the canary scan."""
    with app.app_context():
        texts = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                texts.extend(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                             for value in row)
        db.session.rollback()
    return "\n".join(texts)


def spooled(app) -> str:
    spool = app.extensions["sinch_recorder"].spool
    files = "\n".join(path.read_text(errors="replace") for path in spool.folder.rglob("*") if path.is_file())
    shared = ""
    if spool.redis is not None:
        keys = [spool.key, *spool.redis.scan_iter(match=f"{spool.key}*")]
        shared = "\n".join(str(spool.redis.lrange(key, 0, -1)) for key in keys if spool.redis.type(key) == b"list")
    return json.dumps(spool.waiting()) + files + shared


def logged(caplog) -> str:
    """Every log line's message and text fields (extras, traceback), not its timings: the CVV
    canary is four digits, which a float such as relativeCreated may hold by chance."""
    return "\n".join(f"{record.getMessage()} {[v for v in vars(record).values() if isinstance(v, (str, dict, list))]}"
                     for record in caplog.records)


def test_card_digits_are_kept_nowhere_and_the_recording_pauses_around_the_menus(sidecar, ivr, caplog):
    caplog.set_level(logging.DEBUG)
    post = lambda body: sidecar.sinch.post(body).json  # noqa: E731
    ice = post({"event": "ice", "callid": "pay-1", "cli": "+46701111111", "domain": "pstn", "version": 1,
                "to": {"type": "did", "endpoint": "+46812345678"}, "applicationKey": APP_KEY})
    assert names(ice) == ["startRecording"] and ice["action"]["menus"] == [PAY_MENU]  # not sensitive: recorded
    card_menu = post(pie("pay-1", "main", "pay", "return"))
    assert names(card_menu) == ["stopRecording"] and card_menu["action"]["menus"] == [CARD_MENU]  # paused first
    cvv_menu = post(pie("pay-1", "main", CARD))
    assert "startRecording" not in names(cvv_menu) and cvv_menu["action"]["mainMenu"] == "cvv"  # still paused
    assert CARD in json.dumps(cvv_menu)  # Sinch gets the upstream's reply as sent (its read-back)
    connected = post(pie("pay-1", "cvv", CVV))
    assert names(connected) == ["say", "startRecording"] and connected["action"]["name"] == "connectPstn"
    assert connected["instructions"][1]["options"] == UPSTREAM_OPTIONS  # the upstream's own, unsealed

    # The upstream got the real digits, signed as Sinch signs.
    forwarded = [json.loads(body) for verdict, body in ivr.received if verdict == "ok"]
    assert [e["menuResult"]["value"] for e in forwarded if e["event"] == "pie"] == ["pay", CARD, CVV]

    # Sinch delivers the two segments the upstream's recording made; then the call ends.
    for segment in (1, 2):
        url = f"s3://upstream-own/pay-1-{segment}.mp3"
        for kind in ("recording_finished",):  # (available would queue checks of a store this test has not)
            assert sidecar.sinch.post({"event": "notify", "callid": "pay-1", "version": 1, "type": kind,
                                       "destination": url}).status_code == 200
    sidecar.sinch.post({"event": "dice", "callid": "pay-1", "reason": "CALLERHANGUP", "result": "ANSWERED",
                        "version": 1, "duration": 60})

    api = sidecar.test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    catalogue = api.get("/api/v1/calls/pay-1/recordings", headers=bearer).json
    assert [r["segment"] for r in catalogue["data"]] == [1, 2]
    [pause] = catalogue["pauses"]
    assert pause["reason"] == "sensitive input: menu main" and pause["from"] and pause["to"]
    shown = [json.dumps(catalogue), api.get("/api/v1/recordings", headers=bearer).get_data(as_text=True),
             api.get("/metrics").get_data(as_text=True)]
    pages = sidecar.test_client()
    sign_in(pages, TOKEN)
    page = pages.get("/calls/pay-1")
    assert page.status_code == 200 and "sensitive input: menu main" in page.get_data(as_text=True)
    shown.append(page.get_data(as_text=True))

    kept = everything_kept(sidecar)
    assert "[redacted: 16 digits]" in kept and "[redacted: 4 digits]" in kept
    for canary in (CARD, " ".join(CARD)):
        assert canary not in kept and canary not in spooled(sidecar) and canary not in logged(caplog)
        assert not any(canary in text for text in shown)
    assert "upsecret" not in kept  # the upstream's credentials: sealed in the call's row
    with sidecar.app_context():
        rows = db.session.scalars(select(JournalEntry).where(JournalEntry.event == "pie")).all()
        assert [row.redacted for row in rows] == [False, True, True] and all(row.signature == "ok" for row in rows)
        assert not any(CVV in row.body.decode() + (row.reply or "") + json.dumps(row.upstream) for row in rows)


def test_a_card_keyed_while_the_database_is_away_is_spooled_redacted(sidecar, make_app, caplog):
    caplog.set_level(logging.DEBUG)
    sidecar.sinch.post({"event": "ice", "callid": "pay-2", "cli": "+46701111111", "domain": "pstn", "version": 1,
                        "to": {"type": "did", "endpoint": "+46812345678"}, "applicationKey": APP_KEY})
    sidecar.sinch.post(pie("pay-2", "main", "pay", "return"))
    # The database goes away during the menu: the same service, its database unreachable.
    away = make_app(**{**sidecar.settings, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                       "INSTANCE_PATH": sidecar.extensions["settings"].instance_path.as_posix()})
    reply = SinchClient(away.test_client()).post(pie("pay-2", "cvv", CVV))
    assert reply.status_code == 200  # the fallback (without the upstream, as in any outage): the call goes on
    waiting = away.extensions["sinch_recorder"].spool.waiting()
    assert [entry["event"] for entry in waiting] == ["pie"] and waiting[0]["redacted"]
    assert CVV not in spooled(away) and CVV not in logged(caplog)
    with sidecar.app_context():
        sidecar.extensions["sinch_recorder"].spool.import_waiting()
    with sidecar.app_context():
        bodies = [row.body.decode() for row in db.session.scalars(select(JournalEntry).where(
            JournalEntry.call_id == "pay-2", JournalEntry.event == "pie"))]
    assert len(bodies) == 2 and not any(CVV in body for body in bodies)
