"""Copies between every pair of clouds, each verified by SHA-256 and catalogued with lineage."""

import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from sqlalchemy import insert, select, text

from app.db import db
from app.recordings.copies import FAILED, STREAMED, Stream, Target, method_for, recover_stalled
from app.recordings.models import CopyJob, Recording
from app.simulator.audio import audio
from app.storage import parse_location, reader
from app.storage.keys import KeyTemplate
from app.storage.lookup import service_of
from tests.storage_servers import S3_SERVICE, S3_SINCH, s3_client
from tests.support import Flow, Store, ruleset_with_archive

TOKEN = "copy-token"
SCHEMES = ["s3", "azure", "gs"]


@pytest.fixture(params=SCHEMES)
def target_store(request):
    """A second fresh bucket (container), on each real server."""
    server = request.getfixturevalue({"s3": "s3_server", "azure": "azure_server", "gs": "gcs_server"}[request.param])
    return Store(request.param, server, f"arc-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def copying(make_app, store, target_store, queue, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(ruleset_with_archive(store, target_store))
    app = make_app(RULES_FILE=str(rules), API_TOKENS=TOKEN)
    flow = Flow(app, store, queue)
    flow.target = target_store
    headers = {"Authorization": f"Bearer {TOKEN}"}
    flow.post = lambda path, body: app.test_client().post(f"/api/v1{path}", json=body, headers=headers)
    flow.get = lambda path: app.test_client().get(f"/api/v1{path}", headers=headers)
    return flow


def secrets_of(read: dict) -> list[str]:
    """The secret parts of a store's read settings: S3 secret key, Azure account key, GCS private key."""
    found = [read[name] for name in ("secret_key", "account_key") if name in read]
    if "connection_string" in read:
        found.append(read["connection_string"].split("AccountKey=")[1].split(";")[0])
    if "credentials_json" in read:
        key = json.loads(read["credentials_json"])["private_key"]
        found.append(key.split("\n")[5])  # a line of the key's body
    assert found
    return found


def fetched(scheme: str, read: dict, uri: str) -> bytes:
    location = parse_location(uri)
    return b"".join(reader(scheme, read).open(location))


def test_a_copy_to_a_profile_between_each_pair_of_clouds(copying):
    data = audio("mp3", 2)
    source = copying.verified("cp-1", data)
    posted = copying.post(f"/recordings/{source.id}/copy", {"destination": "archive", "by": "auditor"})
    assert posted.status_code == 202, posted.json
    job = posted.json
    assert (job["status"], job["recording_id"], job["requested_by"]) == ("queued", source.id, "auditor")
    assert posted.headers["Location"] == f"/api/v1/copies/{job['id']}"
    assert copying.queue.run(copying.app) == 1  # the worker's task

    done = copying.get(f"/copies/{job['id']}").json
    same_service = copying.store.scheme == copying.target.scheme
    assert done["status"] == "succeeded", done["error"]
    assert done["method"] == ("server_side" if same_service else "streamed")
    assert done["bytes_done"] == done["bytes_total"] == len(data) and done["progress"] == 1.0
    copy = copying.get(f"/recordings/{done['copy_id']}").json
    assert copy["status"] == "verified" and copy["copied_from"] == source.id
    assert copy["sha256"] == source.sha256 == hashlib.sha256(data).hexdigest()
    assert (copy["call_id"], copy["segment"], copy["size_bytes"]) == ("cp-1", 1, len(data))
    # where the archive profile's own template puts this call's segment (it used to reuse the source's key)
    expected = KeyTemplate.parse(copying.target.url).fill({"callid": "cp-1", "segment": 1, "format": "mp3"},
                                                         source.requested_at)
    assert copy["destination_url"] == expected
    assert fetched(copying.target.scheme, copying.target.read, copy["destination_url"]) == data
    assert [j["id"] for j in copying.get(f"/recordings/{source.id}/copies").json["data"]] == [job["id"]]


@pytest.mark.parametrize("store,target_store", [("s3", "gs"), ("gs", "azure"), ("azure", "s3"), ("s3", "s3")],
                         indirect=True)
def test_a_copy_with_explicit_credentials_uses_them_once_and_keeps_none(copying, caplog):
    data = audio("mp3", 2)
    source = copying.verified("cp-2", data)
    target = f"{copying.target.url.split('/{', 1)[0]}/exports/"
    secrets = secrets_of(copying.target.read)
    posted = copying.post(f"/recordings/{source.id}/copy", {"target": target, "credentials": copying.target.read})
    assert posted.status_code == 202, posted.json
    assert posted.json["destination"] is None and "credentials" not in posted.json
    copying.app.extensions["copies"].wait(60)  # the web process's own thread ran it
    assert copying.queue.run(copying.app) == 0  # nothing went through the queue
    done = copying.get(f"/copies/{posted.json['id']}")
    assert done.json["status"] == "succeeded", done.json["error"]
    name = parse_location(source.destination_url).key.rsplit("/", 1)[-1]
    assert done.json["target_url"] == parse_location(target + name).uri
    assert fetched(copying.target.scheme, copying.target.read, done.json["target_url"]) == data
    with copying.app.app_context():
        copy = db.session.get(Recording, done.json["copy_id"])
        assert (copy.status, copy.sha256, copy.copied_from) == ("verified", source.sha256, source.id)
        stored = json.dumps([[str(v) for v in row] for table in ("copy_jobs", "recordings", "journal")
                             for row in db.session.execute(text(f"select * from {table}"))])
    for secret in secrets:
        for place in (posted.get_data(as_text=True), done.get_data(as_text=True), stored, caplog.text):
            assert secret not in place


@pytest.mark.parametrize("store,target_store", [("azure", "gs"), ("gs", "s3"), ("s3", "azure")], indirect=True)
def test_a_large_recording_streams_across_clouds_in_parts(copying):
    data = audio("mp3", 60) * 80  # ~19 MB: several parts of every target's multipart upload
    source = copying.verified("cp-big", data)
    job = copying.post(f"/recordings/{source.id}/copy", {"destination": "archive"}).json
    copying.queue.run(copying.app)
    done = copying.get(f"/copies/{job['id']}").json
    assert (done["status"], done["method"], done["bytes_done"]) == ("succeeded", "streamed", len(data)), done["error"]
    copy = copying.get(f"/recordings/{done['copy_id']}").json
    assert copy["sha256"] == hashlib.sha256(data).hexdigest() and copy["size_bytes"] == len(data)
    assert parts_of(copying.target, parse_location(copy["destination_url"])) in (3, None)  # 8 MiB parts


def parts_of(store: Store, location) -> int | None:
    """How many parts the store assembled the object from (S3 ETag suffix, Azure block list)."""
    if store.scheme == "s3":
        from tests.storage_servers import S3_SERVICE, s3_client

        etag = s3_client(store.server.endpoint, *S3_SERVICE).head_object(Bucket=location.bucket, Key=location.key)["ETag"]
        return int(etag.strip('"').split("-")[1])
    if store.scheme == "azure":
        from azure.storage.blob import BlobClient

        blob = BlobClient.from_connection_string(store.read["connection_string"], location.bucket, location.key)
        return len(blob.get_block_list("committed")[0])
    return None  # GCS composes resumable parts into one object: nothing to count


@pytest.mark.parametrize("store,target_store", [("s3", "azure"), ("gs", "gs")], indirect=True)
def test_a_source_changed_since_verification_is_not_passed_on(copying):
    source = copying.verified("cp-3", audio("mp3", 2))
    copying.store.upload(source.destination_url, audio("mp3", 3))  # replaced after it was proven
    job = copying.post(f"/recordings/{source.id}/copy", {"destination": "archive"}).json
    copying.queue.run(copying.app)
    done = copying.get(f"/copies/{job['id']}").json
    assert done["status"] == "failed" and done["copy_id"] is None
    assert "source changed" in done["error"] or "differs from the source" in done["error"]
    assert len(copying.recordings(call_id="cp-3")) == 1  # no copy catalogued


@pytest.mark.parametrize("store,target_store", [("s3", "s3")], indirect=True)
def test_bad_copy_requests_are_refused_naming_the_problem(copying):
    source = copying.verified("cp-4", audio("mp3", 2))
    path = f"/recordings/{source.id}/copy"
    cases = [
        ({}, "destination"),
        ({"destination": "archive", "target": "s3://x/y", "credentials": {"access_key": "a"}}, "destination"),
        ({"target": "s3://x/y"}, "credentials"),
        ({"key": "a.mp3", "target": "s3://x/y", "credentials": {"access_key": "a"}}, "key"),
        ({"destination": "archive", "credentials": {"access_key": "a"}}, "credentials"),
        ({"destination": "nowhere"}, "destination"),
        ({"target": "ftp://host/file", "credentials": {"access_key": "a"}}, "target"),
        ({"target": "s3://bucket/k", "credentials": {"account_key": "a"}}, "credentials"),
        ({"destination": "archive", "key": 7}, "key"),
    ]
    for body, field in cases:
        refused = copying.post(path, body)
        assert refused.status_code == 400, (body, refused.json)
        assert field in refused.json["error"]["fields"], (body, refused.json)
    assert copying.post("/recordings/nope/copy", {"destination": "archive"}).status_code == 404
    assert copying.get("/copies/nope").status_code == 404
    itself = copying.post(path, {"destination": "store"})
    assert itself.status_code == 400 and "the recording itself" in itself.json["error"]["message"]
    first = copying.post(path, {"destination": "archive"})
    twice = copying.post(path, {"destination": "archive"})  # before the worker ran the first
    assert twice.status_code == 409 and f"already under way (job {first.json['id']})" in twice.json["error"]["message"]
    copying.queue.run(copying.app)
    again = copying.post(path, {"destination": "archive"})
    copy_id = copying.get(f"/copies/{first.json['id']}").json["copy_id"]
    assert again.status_code == 409 and f"already catalogued as recording {copy_id}" in again.json["error"]["message"]
    copying.call("cp-5")  # a recording not yet verified cannot be copied
    waiting = copying.one(call_id="cp-5")
    refused = copying.post(f"/recordings/{waiting.id}/copy", {"destination": "archive"})
    assert refused.status_code == 409 and "only verified recordings" in refused.json["error"]["message"]
    assert copying.app.test_client().post(f"/api/v1{path}", json={"destination": "archive"}).status_code == 401


@pytest.mark.parametrize("store,target_store", [("s3", "azure")], indirect=True)
def test_refused_target_credentials_fail_the_job_with_a_reason(copying, caplog):
    source = copying.verified("cp-6", audio("mp3", 2))
    wrong = "Xby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    read = {"connection_string": copying.target.read["connection_string"].replace(
        copying.target.read["connection_string"].split("AccountKey=")[1].split(";")[0], wrong)}
    job = copying.post(f"/recordings/{source.id}/copy", {"target": f"{copying.target.url.split('/{')[0]}/x.mp3",
                                                         "credentials": read}).json
    copying.app.extensions["copies"].wait(60)
    done = copying.get(f"/copies/{job['id']}").json
    assert done["status"] == "failed" and ("refused" in done["error"] or "denied" in done["error"]), done
    assert wrong not in done["error"] and wrong not in caplog.text


def test_which_copies_are_server_side():
    s3 = parse_location("s3://a/k")
    assert service_of(s3, {"endpoint_url": "http://h:1/"}) == service_of(s3, {"endpoint_url": "http://h:1"})
    assert method_for(s3, {}, Target(parse_location("s3://b/k"), {})) == "server_side"
    assert method_for(s3, {}, Target(parse_location("s3://b/k"), {"endpoint_url": "http://minio"})) == STREAMED
    azure = parse_location("azure://acct/c/k")
    assert method_for(azure, {}, Target(parse_location("azure://other/c/k"), {})) == STREAMED
    assert method_for(azure, {}, Target(parse_location("azure://acct/d/k"), {})) == "server_side"
    assert method_for(s3, {}, Target(parse_location("gs://a/k"), {})) == STREAMED


def test_the_stream_hashes_counts_and_reports_what_passes():
    chunks = [b"a" * 10, b"", b"b" * 5, b"c" * 7]
    seen = []
    stream = Stream(iter(chunks), seen.append)
    assert stream.read(4) == b"aaaa" and not stream.seekable()
    assert stream.read() == b"a" * 6 + b"b" * 5 + b"c" * 7
    assert stream.read(10) == b""
    assert stream.done == 22 and seen[-1] == 22 and seen == sorted(seen)
    assert stream.sha256.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_the_stream_gives_whole_parts_across_chunks():
    stream = Stream(iter([b"x" * 3] * 7), lambda done: None)  # uploaders read a part at a time
    assert [len(stream.read(5)) for _ in range(5)] == [5, 5, 5, 5, 1]


def test_copies_whose_process_stopped_are_failed_or_queued_again(make_app):
    app = make_app()
    now = datetime.now(timezone.utc)
    with app.app_context():
        for job_id, runner, age in (("old-web", "web", 20), ("new-web", "web", 1), ("old-worker", "worker", 20),
                                    ("new-worker", "worker", 1)):
            db.session.execute(insert(CopyJob.__table__).values(
                id=job_id, recording_id="r", target_url="s3://b/k", runner=runner, status="running",
                bytes_done=5, created_at=now - timedelta(minutes=age), updated_at=now - timedelta(minutes=age)))
        db.session.commit()
        assert recover_stalled(db.engine, now) == (1, ["old-worker"])
        states = dict(db.session.execute(select(CopyJob.id, CopyJob.status)).all())
        assert states == {"old-web": FAILED, "new-web": "running", "old-worker": "queued", "new-worker": "running"}
        assert "post the copy again" in db.session.get(CopyJob, "old-web").error
        assert db.session.get(CopyJob, "old-worker").bytes_done == 0



@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_copy_only_profile_is_written_with_its_write_credentials(make_app, store, queue, tmp_path):
    """An archive Sinch never writes to: no sinch_credentials; copies write with write: (here the
    write-only identity, which cannot read) and are read back with read:."""
    archive_bucket = f"archive-{uuid.uuid4().hex[:10]}"
    s3_client(store.server.endpoint, *S3_SERVICE).create_bucket(Bucket=archive_bucket)
    document = yaml.safe_load(store.ruleset())
    document["destinations"]["archive"] = {
        "url": f"s3://{archive_bucket}/by-call/{{callid}}/{{segment}}.{{format}}",
        "write": {**store.read, "access_key": S3_SINCH[0], "secret_key": S3_SINCH[1]}, "read": store.read}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(document))
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), API_TOKENS=TOKEN)
    flow = Flow(app, store, queue)
    source = flow.verified("arch-1", audio("mp3", 2))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    posted = app.test_client().post(f"/api/v1/recordings/{source.id}/copy", json={"destination": "archive"},
                                    headers=headers)
    assert posted.status_code == 202, posted.json
    assert queue.run(app) == 1
    done = app.test_client().get(f"/api/v1/copies/{posted.json['id']}", headers=headers).json
    assert done["status"] == "succeeded", done["error"]
    assert done["method"] == "streamed"  # the write-only key cannot read the source: no server-side copy
    copy = app.test_client().get(f"/api/v1/recordings/{done['copy_id']}", headers=headers).json
    assert copy["destination_url"] == f"s3://{archive_bucket}/by-call/arch-1/1.mp3" and copy["status"] == "verified"
