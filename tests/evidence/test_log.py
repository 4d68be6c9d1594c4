"""The transparency log in the database (issue 28): the appender's tree is the RFC's and pymerkle's
for every size, its leaves are the events' RFC 8785 bytes, heads are signed and kept, the API
serves what a monitor needs, and heads stay consistent while writers, appenders and signers run
at once."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading

import pymerkle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pymerkle import InmemoryTree

from app.db import db
from app.events import log as event_log
from app.evidence import heads, log, merkle
from app.evidence.audit import audit
from app.evidence.tasks import grow
from tests.evidence.test_merkle import mth, path, subproof

RAW_KEY = bytes(range(32))
KEY = base64.b64encode(RAW_KEY).decode()
PUBLIC = Ed25519PrivateKey.from_private_bytes(RAW_KEY).public_key().public_bytes_raw()
TOKEN = "evidence-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(make_app):
    return make_app(EVIDENCE_SIGNING_KEY=KEY, API_TOKENS=TOKEN)


def add_events(app, count: int, *, sequence: bool = True) -> None:
    with app.app_context():
        engine = db.engine
    with engine.begin() as connection:
        for n in range(count):
            event_log.append(connection, "call.consent", {"call_id": f"c{n}", "consent": "accepted", "n": n,
                                                          "note": "é ü 😀", "ratio": 0.1 * n}, call_id=f"c{n}")
    if sequence:
        event_log.sequence(engine)


def engine_of(app):
    with app.app_context():
        return db.engine


def test_the_stored_tree_is_the_rfc_s_and_pymerkle_s_at_every_size_up_to_300(app):
    rng, engine = random.Random(9162), engine_of(app)
    while True:  # grown in uneven batches, so the frontier is carried across appends
        with engine.connect() as connection:
            size = log.size(connection)
        if size >= 300:
            break
        add_events(app, rng.randint(1, 40))
        log.append(engine, batch=rng.randint(1, 64))
    with engine.connect() as connection:
        entries = [bytes(row["entry"]) for row in log.entries(connection, 0, 1000)]
        assert len(entries) == log.size(connection)
        theirs = InmemoryTree(algorithm="sha256")
        for size in range(1, 301):
            theirs.append_entry(entries[size - 1])
            assert log.root(connection, size) == mth(entries[:size]) == theirs.get_root(size)
            for index in {0, size - 1, rng.randrange(size)}:
                proof = log.inclusion(connection, index, size)
                assert proof == path(index, entries[:size])
                theirs_path = theirs.prove_inclusion(index + 1, size).serialize()["path"][1:]  # (1-based, leaf first)
                assert proof == [bytes.fromhex(h) for h in theirs_path]
                merkle.verify_inclusion(merkle.leaf_hash(entries[index]), index, size, proof, mth(entries[:size]))
            first = rng.randrange(1, size + 1)
            proof = log.consistency(connection, first, size)
            assert proof == (subproof(first, entries[:size], True) if first < size else [])
            merkle.verify_consistency(first, size, mth(entries[:first]), mth(entries[:size]), proof)
            pymerkle.verify_consistency(mth(entries[:first]), mth(entries[:size]),
                                        theirs.prove_consistency(first, size))


def test_a_leaf_is_the_event_as_the_feed_gives_it_in_rfc_8785_form_in_feed_order(app):
    add_events(app, 5)
    add_events(app, 2, sequence=False)  # not numbered yet: not in the log either
    assert log.append(engine_of(app)) == 5
    feed = app.test_client().get("/api/v1/events?limit=500", headers=AUTH).json["data"]  # (numbers the two)
    with engine_of(app).connect() as connection:
        leaves = log.entries(connection, 0, 100)
    assert [row["event_id"] for row in leaves] == [event["id"] for event in feed[:5]]
    for row, event in zip(leaves, feed):
        assert bytes(row["entry"]) == rfc8785.dumps(event)
        assert json.loads(row["entry"]) == event
    assert log.append(engine_of(app)) == 2 and log.append(engine_of(app)) == 0


def test_heads_are_signed_over_the_jcs_of_the_head_kept_and_made_only_when_the_tree_grew(app):
    settings = app.extensions["settings"]
    assert grow(app) is None  # nothing logged yet: no head
    add_events(app, 3)
    head = grow(app)
    assert head["tree_size"] == 3 and head["log_id"] == hashlib.sha256(PUBLIC).hexdigest()
    signed = json.dumps({k: head[k] for k in ("log_id", "root_hash", "timestamp", "tree_size")},
                        sort_keys=True, separators=(",", ":")).encode()
    Ed25519PublicKey.from_public_bytes(PUBLIC).verify(base64.b64decode(head["signature"]), signed)
    with engine_of(app).connect() as connection:
        assert base64.b64decode(head["root_hash"]) == mth([bytes(r["entry"]) for r in log.entries(connection, 0, 3)])
    add_events(app, 1)
    assert grow(app) is None  # grown, but the last head is younger than EVIDENCE_STH_SECONDS
    assert settings.evidence_sth_seconds == 60
    assert heads.make(engine_of(app), settings.evidence_signing_key)["tree_size"] == 4
    assert heads.make(engine_of(app), settings.evidence_signing_key) is None  # not grown
    with engine_of(app).connect() as connection:
        assert [h["tree_size"] for h in heads.every(connection)] == [3, 4]
        assert heads.at(connection, 3) == head


def test_the_api_serves_key_heads_entries_and_proofs_a_monitor_checks(app):
    client = app.test_client()
    assert client.get("/api/v1/evidence/sth", headers=AUTH).status_code == 404  # on, but no head yet
    add_events(app, 12)
    grow(app)
    key = client.get("/api/v1/evidence/key", headers=AUTH).json
    assert key == {"log_id": hashlib.sha256(PUBLIC).hexdigest(), "algorithm": "Ed25519",
                   "public_key": base64.b64encode(PUBLIC).decode()}
    add_events(app, 9)
    log.append(engine_of(app))
    heads.make(engine_of(app), app.extensions["settings"].evidence_signing_key)
    latest = client.get("/api/v1/evidence/sth", headers=AUTH).json
    first = client.get("/api/v1/evidence/sth?tree_size=12", headers=AUTH).json
    assert (first["tree_size"], latest["tree_size"]) == (12, 21)
    for head in (first, latest):
        heads.check(head, PUBLIC)
    entries = client.get("/api/v1/evidence/entries?start=0&end=50", headers=AUTH).json["entries"]
    raw = [base64.b64decode(e["entry"]) for e in entries]
    assert [e["leaf_index"] for e in entries] == list(range(21))
    assert base64.b64encode(mth(raw)).decode() == latest["root_hash"]  # a monitor rebuilds the root
    for index in (0, 7, 20):
        proof = client.get(f"/api/v1/evidence/proof/inclusion?leaf_index={index}&tree_size=21", headers=AUTH).json
        assert proof["leaf_index"] == index and proof["tree_size"] == 21
        merkle.verify_inclusion(merkle.leaf_hash(raw[index]), index, 21,
                                [base64.b64decode(h) for h in proof["inclusion_path"]], mth(raw))
    proof = client.get("/api/v1/evidence/proof/consistency?first=12&second=21", headers=AUTH).json
    merkle.verify_consistency(12, 21, base64.b64decode(first["root_hash"]), base64.b64decode(latest["root_hash"]),
                              [base64.b64decode(h) for h in proof["consistency_path"]])
    refused = {
        "/api/v1/evidence/entries?start=-1&end=4": "start",
        "/api/v1/evidence/sth?tree_size=x": "tree_size",
        "/api/v1/evidence/sth?tree_size=5&more=1": "more",
    }
    for url, named in refused.items():
        answer = client.get(url, headers=AUTH)
        assert answer.status_code == 400 and named in json.dumps(answer.json), (url, answer.json)
    absent = {  # well formed, but no such proof
        "/api/v1/evidence/proof/inclusion?leaf_index=21&tree_size=21": "leaf 21 is not in a tree of 21",
        "/api/v1/evidence/proof/inclusion?leaf_index=0&tree_size=22": "the log has 21 leaves, not 22",
        "/api/v1/evidence/proof/consistency?first=5&second=3": "no consistency proof from 5 to 3",
    }
    for url, named in absent.items():
        answer = client.get(url, headers=AUTH)
        assert answer.status_code == 404 and named in answer.json["error"]["message"], (url, answer.json)
    assert client.get("/api/v1/evidence/entries?start=4&end=4", headers=AUTH).json == {"entries": []}
    assert client.get("/api/v1/evidence/sth?tree_size=13", headers=AUTH).status_code == 404
    assert client.get("/api/v1/evidence/key").status_code == 401
    assert len(client.get("/api/v1/evidence/entries?start=0&end=100000", headers=AUTH).json["entries"]) == 21


def test_without_a_key_the_log_says_it_is_off_and_does_nothing(make_app):
    app = make_app(API_TOKENS=TOKEN)
    add_events(app, 3)
    assert grow(app) is None
    with engine_of(app).connect() as connection:
        assert log.size(connection) == 0
    for url in ("/api/v1/evidence/key", "/api/v1/evidence/sth", "/api/v1/evidence/entries?start=0&end=1",
                "/api/v1/recordings/abc/evidence"):
        answer = app.test_client().get(url, headers=AUTH)
        assert answer.status_code == 404 and "EVIDENCE_SIGNING_KEY" in answer.json["error"]["message"]
    result = app.test_cli_runner().invoke(args=["evidence", "status"])
    assert result.exit_code == 1 and "the transparency log is off: set EVIDENCE_SIGNING_KEY" in result.output


def test_heads_stay_consistent_while_writers_appenders_and_signers_run_at_once(app):
    """On PostgreSQL (CI's second pass) the threads really interleave: events committed by four
    writers, three appenders and two signers at once; every kept head is consistent with the one
    before, and the audit rebuilds the same tree."""
    engine, key = engine_of(app), app.extensions["settings"].evidence_signing_key
    stop, errors = threading.Event(), []

    def forever(work):
        def run():
            try:
                while not stop.is_set():
                    work()
            except Exception as error:  # noqa: BLE001 — reported below
                errors.append(error)
        return threading.Thread(target=run)

    def write() -> None:
        for _ in range(20):  # many small commits, each numbered by its writer
            add_events(app, 3)

    writers = [threading.Thread(target=write) for _ in range(4)]
    others = [forever(lambda: log.append(engine, batch=7)) for _ in range(3)]
    others += [forever(lambda: heads.make(engine, key)) for _ in range(2)]
    for thread in writers + others:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in others:
        thread.join()
    assert errors == []
    log.append(engine)
    heads.make(engine, key)
    with engine.connect() as connection:
        kept = heads.every(connection)
        assert kept[-1]["tree_size"] == log.size(connection) == 240
        assert len(kept) >= 2  # (one signed while the writers ran, at least, and the last)
        for before, after in zip(kept, kept[1:]):
            merkle.verify_consistency(before["tree_size"], after["tree_size"], base64.b64decode(before["root_hash"]),
                                      base64.b64decode(after["root_hash"]),
                                      log.consistency(connection, before["tree_size"], after["tree_size"]))
    report = audit(engine, [PUBLIC])
    assert report.problems == [] and report.leaves == 240 and report.heads == len(kept)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**60, max_value=2**60) | st.text() |
    st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


@settings(max_examples=3000, deadline=None)
@given(_json)
def test_the_canonical_json_is_the_rfc8785_package_s_byte_for_byte(value):
    """The fast path (json.dumps where it provably agrees) against the rfc8785 package, on any
    JSON: keys of any Unicode, controls, floats, integers past 2**53 (where the package refuses,
    so must we)."""
    try:
        expected = rfc8785.dumps(value)
    except Exception as error:  # noqa: BLE001 — what the package refuses, we refuse too
        with pytest.raises(type(error)):
            log.canonical(value)
        return
    assert log.canonical(value) == expected


def test_metrics_and_status_say_what_is_still_to_append_sign_and_write(app, make_app):
    def gauges(of) -> dict:
        text = of.test_client().get("/metrics").get_data(as_text=True)
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("sinch_evidence_")}

    add_events(app, 5)
    grow(app)
    add_events(app, 2)  # numbered, not appended
    assert gauges(app) == {"sinch_evidence_leaves": 5, "sinch_evidence_waiting": 2, "sinch_evidence_unsigned": 0,
                           "sinch_evidence_unwritten": 0}
    log.append(engine_of(app))
    assert gauges(app)["sinch_evidence_unsigned"] == 2
    status = app.test_cli_runner().invoke(args=["evidence", "status"])
    assert status.exit_code == 0 and "7 leaves; 0 numbered event(s) to append; 2 leaves under no signed head" in \
        status.output
    assert gauges(make_app()) == {}  # the log off: no gauges
