"""Tree heads written to the customer's bucket (issue 28, the ruleset's ``evidence:``): each head
a new object in order, on SeaweedFS, Azurite and fake-gcs-server; a store that refuses keeps
them waiting, not lost; on an S3 bucket with Object Lock the bucket's default retention holds
every head."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import yaml

from app.evidence import heads
from app.evidence.publish import location_of
from app.evidence.tasks import grow
from app.rules.schema import RulesError, parse_ruleset
from app.storage import reader
from tests import storage_servers as servers
from tests.evidence.test_log import KEY, PUBLIC, add_events
from tests.support import Store

SERVERS = {"s3": "s3_server", "azure": "azure_server", "gs": "gcs_server"}


def ruleset(store: Store, **read) -> str:
    document = yaml.safe_load(store.ruleset())
    document["destinations"]["store"]["read"] = {**store.read, **read}
    document["evidence"] = {"destination": "store", "prefix": "audit/heads/"}
    return yaml.safe_dump(document)


def stored(store: Store, app, head: dict) -> dict:
    location = location_of(app.extensions["rules"].current, head)
    return json.loads(b"".join(reader(store.scheme, store.read).open(location)))


@pytest.mark.parametrize("scheme", sorted(SERVERS))
def test_each_head_is_a_new_object_in_the_evidence_destination(request, make_app, tmp_path, scheme):
    store = Store(scheme, request.getfixturevalue(SERVERS[scheme]), f"sth-{uuid.uuid4().hex[:12]}")
    (tmp_path / "rules.yaml").write_text(ruleset(store))
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), EVIDENCE_SIGNING_KEY=KEY)
    add_events(app, 3)
    first = grow(app, every_seconds=0)
    add_events(app, 2)
    second = grow(app, every_seconds=0)
    assert (first["tree_size"], second["tree_size"]) == (3, 5)
    for head in (first, second):
        assert stored(store, app, head) == head
        heads.check(stored(store, app, head), PUBLIC)
        assert location_of(app.extensions["rules"].current, head).key == \
            f"audit/heads/{head['log_id']}/{head['tree_size']:020d}.json"


def test_a_store_that_refuses_keeps_the_heads_waiting_until_it_takes_them(make_app, tmp_path, s3_server, caplog):
    store = Store("s3", s3_server, f"sth-{uuid.uuid4().hex[:12]}")
    (tmp_path / "wrong.yaml").write_text(ruleset(store, secret_key="not-the-secret"))
    refused = make_app(RULES_FILE=str(tmp_path / "wrong.yaml"), EVIDENCE_SIGNING_KEY=KEY)
    add_events(refused, 2)
    with caplog.at_level(logging.WARNING, logger="app.evidence.tasks"):
        first = grow(refused, every_seconds=0)
    assert first["tree_size"] == 2
    [warning] = [r for r in caplog.records if "evidence destination" in r.getMessage()]
    assert warning.destination == "store" and "not-the-secret" not in warning.error
    add_events(refused, 1)
    second = grow(refused, every_seconds=0)
    (tmp_path / "right.yaml").write_text(ruleset(store))
    fixed = make_app(RULES_FILE=str(tmp_path / "right.yaml"), EVIDENCE_SIGNING_KEY=KEY)
    assert grow(fixed, every_seconds=0) is None  # no new head: only the two waiting are written
    assert [stored(store, fixed, head) for head in (first, second)] == [first, second]


def test_on_an_object_lock_bucket_every_head_is_under_the_bucket_s_retention(make_app, tmp_path, s3_server):
    name = f"sth-lock-{uuid.uuid4().hex[:8]}"
    client = servers.s3_client(s3_server.endpoint, *servers.S3_SERVICE)
    store = Store("s3", s3_server, name, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    (tmp_path / "rules.yaml").write_text(ruleset(store))
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), EVIDENCE_SIGNING_KEY=KEY)
    add_events(app, 2)
    head = grow(app, every_seconds=0)
    key = location_of(app.extensions["rules"].current, head).key
    retention = client.get_object_retention(Bucket=name, Key=key)["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    version = client.head_object(Bucket=name, Key=key)["VersionId"]
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket=name, Key=key, VersionId=version)


@pytest.mark.parametrize("evidence, problem", [
    ({"destination": "archive"}, {"evidence.destination": ["'archive' is not a destination (known: store)"]}),
    ({"destination": "store", "prefix": "/abs"},
     {"evidence.prefix": ["must be folders ending in / (letters, digits, _ . -), e.g. evidence/"]}),
])
def test_the_ruleset_refuses_an_evidence_section_it_cannot_follow(s3_server, evidence, problem):
    document = yaml.safe_load(ruleset(Store("s3", s3_server, f"sth-{uuid.uuid4().hex[:12]}")))
    document["evidence"] = evidence
    with pytest.raises(RulesError) as refused:
        parse_ruleset(yaml.safe_dump(document), {})
    assert refused.value.problems == problem


def test_metrics_count_the_heads_not_written_yet(make_app, tmp_path, s3_server):
    store = Store("s3", s3_server, f"sth-{uuid.uuid4().hex[:12]}")
    (tmp_path / "wrong.yaml").write_text(ruleset(store, secret_key="not-the-secret"))
    app = make_app(RULES_FILE=str(tmp_path / "wrong.yaml"), EVIDENCE_SIGNING_KEY=KEY)
    add_events(app, 2)
    grow(app, every_seconds=0)
    assert "sinch_evidence_unwritten 1.0" in app.test_client().get("/metrics").get_data(as_text=True)
