"""What the tests (and benchmarks) share: constants, clients and helpers, with no side effects.

Importing this module changes nothing: the run's environment (queue name, database) is set by
``tests/conftest.py`` when pytest starts, and fixtures live there.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import yaml
from flask import Flask, request
from sqlalchemy import event, select
from standardwebhooks import Webhook
from sqlalchemy.engine import make_url

from app.db import db
from app.journal import JournalEntry
from app.recordings.models import Call, Recording
from app.settings import database_url as normalise
from app.simulator.audio import audio
from app.sinch.signing import sign
from app.storage import parse_location, reader
from tests import storage_servers as servers
from tests.processes import Served

APP_KEY = "669E367E-6BBA-48AB-AF15-266871C28135"
APP_SECRET = "BeIukql3pTKJ8RGL5zo0DA=="
OTHER_KEY = "A1B2C3D4-0000-4000-8000-000000000002"
OTHER_SECRET = base64.b64encode(b"another-app-secret-0123").decode()
RULES_DIR = Path(__file__).parent / "rules"


# Hostile texts for URLs (query values, path ids), percent-encoded where a URL carries them raw:
# NUL, a lone surrogate and invalid UTF-8, CR/LF, overlong, bidi, traversal, markup, numbers out of
# range, JSON words, deep nesting, impossible dates, redirects elsewhere, SQL, wildcards.
HOSTILE_URL_TEXT = [
    "", "%00", "%ED%A0%80", "%FF%FE", "%0D%0ASet-Cookie:%20x=1", "x" * 3000, "%E2%80%AEevil",
    "..%2F..%2Fetc%2Fpasswd", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "%F0%9D%95%8F" * 200, "-1",
    "99999999999999999999999", "1e308", "null", "true", "%5B%5D", "%7B%7D", "%5B" * 500, "0001-01-01",
    "0001-01-01T00:00:00%2B01:00", "9999-12-31", "9999-12-31T23:59:59-01:00", "2026-02-30", "%25", "%20",
    "%2F%2Fevil.example", "https:%2F%2Fevil.example", "' OR 1=1 --", "*",
]


class CustomerApp:
    """A Sinch application of a customer's, as a WSGI app: answers each callback with the SVAML
    scripted for its event (none: an empty 200), and keeps every callback it was sent."""

    def __init__(self, replies: dict):
        self.replies, self.received = replies, []

    def __call__(self, environ, start_response):
        event = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        self.received.append(event)
        reply = self.replies.get(event["event"])
        body = json.dumps(reply).encode() if reply is not None else b""
        start_response("200 OK", [("Content-Type", "application/json")] if body else [])
        return [body]


def unavailable(reason: str):
    """Skip on a laptop that lacks an optional server; in CI every server must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"required test server missing in CI: {reason}")
    pytest.skip(reason)


class Databases:
    """Empty databases for this run: SQLite files, or PostgreSQL databases dropped at the end."""

    def __init__(self, postgres_url: str | None = None, folder: Path | None = None):
        given = postgres_url or os.environ.get("TEST_DATABASE_URL")
        self.postgres = make_url(normalise(given)) if given else None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="sinch-recorder-databases-"))
        self.run = uuid.uuid4().hex[:10]
        self.made: list[str] = []

    def _admin(self):
        url = self.postgres.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(url, autocommit=True)

    def new(self, label: str) -> str:
        name = f"sr_test_{self.run}_{label}"
        if self.postgres is None:
            return f"sqlite:///{self.folder / (name + '.db')}"
        with self._admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.postgres.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.made:
            with self._admin() as connection:
                for name in self.made:
                    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SinchClient:
    """Posts callbacks the way Sinch does: raw JSON body, signed with the application secret."""

    def __init__(self, client, key: str = APP_KEY, secret: str = APP_SECRET):
        self.client, self.key, self.secret = client, key, secret

    def post(self, payload, *, path: str = "/sinch/callback", content_type: str = "application/json",
             timestamp: str | None = None, headers: dict | None = None, sign_body: bytes | None = None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        signed = sign(self.key, self.secret, method="POST", path=path,
                      body=body if sign_body is None else sign_body,
                      content_type=content_type, timestamp=timestamp)
        return self.client.post(path, data=body, headers={**signed, **(headers or {})})


@contextmanager
def heard(target, name: str):
    """The arguments of every ``name`` event of ``target`` (an engine, say) while the block runs."""
    calls: list[tuple] = []

    def listener(*args):
        calls.append(args)

    event.listen(target, name, listener)
    try:
        yield calls
    finally:
        event.remove(target, name, listener)


def journal_rows(app) -> list:
    from app.db import db

    with app.app_context():
        return list(db.session.scalars(db.select(JournalEntry).order_by(JournalEntry.id)))


@contextmanager
def a_big_object_on_a_store_of_its_own():
    """A SeaweedFS of this test's own (so it may be stopped or killed) holding one 48 MiB object,
    more than any buffer on the way: yields (server, backend, location, data)."""
    try:
        server = servers.start_seaweedfs()
    except servers.ServerMissing as missing:
        unavailable(f"{missing} is not installed")
    try:
        client = servers.s3_client(server.endpoint, *servers.S3_SERVICE)
        client.create_bucket(Bucket="alone")
        data = os.urandom(48 * 1024 * 1024)
        client.put_object(Bucket="alone", Key="big.mp3", Body=data)
        backend = reader("s3", {"endpoint_url": server.endpoint, "access_key": servers.S3_SERVICE[0],
                                "secret_key": servers.S3_SERVICE[1], "region": "us-east-1"})
        yield server, backend, parse_location("s3://alone/big.mp3"), data
    finally:
        server.close()


def pstn_ice(call_id: str) -> dict:
    """A plain PSTN ICE to the number the test rulesets record."""
    return {"event": "ice", "callid": call_id, "cli": "+46701111111", "domain": "pstn",
            "to": {"type": "number", "endpoint": "+46812345678"}}


def unstored(records) -> list:
    """Of these log records, the callbacks answered whose write (with its effect) the database
    refused: the entry was then journaled alone, and only this log line tells."""
    return [record.call_id for record in records
            if record.getMessage() == "could not store the callback and its decision"]


def call_row(app, call_id: str):
    """A call's catalogue row, detached (None when there is none)."""
    with app.app_context():
        row = db.session.get(Call, call_id)
        db.session.close()
    return row


def recordings_of(app, call_id: str) -> list:
    """A call's recording rows, detached (attributes kept; the next look reads afresh)."""
    with app.app_context():
        rows = list(db.session.scalars(select(Recording).where(Recording.call_id == call_id)))
        db.session.close()
    return rows


class Store:
    """One fresh bucket (container) on a real server, the ruleset destination pointing at it,
    and an uploader holding only what Sinch holds."""

    def __init__(self, scheme: str, server, name: str, **bucket):
        """``bucket``: more of S3's CreateBucket (``ObjectLockEnabledForBucket=True``)."""
        self.scheme, self.server, self.name = scheme, server, name
        if scheme == "s3":
            servers.s3_client(server.endpoint, *servers.S3_SERVICE).create_bucket(Bucket=name, **bucket)
            self.url = f"s3://{name}/calls/{{callid}}-{{segment}}.{{format}}"
            self.sinch_credentials = f"{servers.S3_SINCH[0]}:{servers.S3_SINCH[1]}:us-east-1"
            self.read = {"endpoint_url": server.endpoint, "access_key": servers.S3_SERVICE[0],
                         "secret_key": servers.S3_SERVICE[1], "region": "us-east-1"}
        elif scheme == "azure":
            from azure.storage.blob import BlobServiceClient

            BlobServiceClient.from_connection_string(server.extra["connection_string"]).create_container(name)
            self.url = f"azure://{servers.AZURE_ACCOUNT}/{name}/{{callid}}/{{segment}}.{{format}}"
            self.sinch_credentials = servers.AZURE_KEY
            self.read = {"connection_string": server.extra["connection_string"]}
        else:
            servers.gcs_client(server.endpoint).create_bucket(name)
            self.url = f"gs://{name}/{{date:%Y-%m}}/{{callid}}-{{segment}}.{{format}}"
            self.sinch_credentials = f"{servers.GCS_HMAC[0]}:{servers.GCS_HMAC[1]}"
            self.read = {"endpoint": server.endpoint, "project": "test",
                         "credentials_json": servers.service_account_json()}

    def ruleset(self, **record) -> str:
        import yaml

        destination = {"url": self.url, "sinch_credentials": self.sinch_credentials, "read": self.read}
        return yaml.safe_dump({"version": 1, "allow_literal_credentials": True,
                               "destinations": {"store": destination},
                               "rules": [{"id": "record-all", "record": {"destination": "store", **record},
                                          "connect": "dialled"}]})

    def upload(self, uri: str, data: bytes, **azure_settings) -> None:
        """Write ``data`` at ``uri`` the way Sinch would, with the write-only credentials."""
        from app.storage import parse_location, writer

        location = parse_location(uri)
        if self.scheme == "gs":  # the emulator has no XML API: its JSON API stands in (no auth there)
            servers.gcs_client(self.server.endpoint).bucket(location.bucket).blob(location.key) \
                .upload_from_string(data)
        else:
            writer(location, self.sinch_credentials, self.read).probe_write(location, data)
        if azure_settings:  # blob properties set afterwards (Azure checks a Content-MD5 given at upload)
            from azure.storage.blob import BlobServiceClient, ContentSettings

            BlobServiceClient.from_connection_string(self.server.extra["connection_string"]) \
                .get_blob_client(location.bucket, location.key) \
                .set_http_headers(ContentSettings(**azure_settings))


def ruleset_with_archive(store: Store, archive: Store) -> str:
    document = yaml.safe_load(store.ruleset())
    document["destinations"]["archive"] = {"url": archive.url, "sinch_credentials": archive.sinch_credentials,
                                           "read": archive.read}
    return yaml.safe_dump(document)


class Flow:
    def __init__(self, app, store, queue):
        self.app, self.store, self.queue = app, store, queue
        self.sinch = SinchClient(app.test_client())

    def call(self, callid: str, to="+46812345678") -> str:
        """An ICE the rule records; returns the recording's key URI."""
        response = self.sinch.post({"event": "ice", "callid": callid, "cli": "+46701111111", "domain": "pstn",
                                    "to": {"type": "number", "endpoint": to}})
        assert response.status_code == 200
        return response.json["instructions"][0]["options"]["destinationUrl"]

    def notify(self, callid: str, kind: str, destination: str | None = None):
        body = {"event": "notify", "callid": callid, "version": 1, "type": kind}
        if destination:
            body["destination"] = destination
        assert self.sinch.post(body).status_code == 200

    def dice(self, callid: str):
        assert self.sinch.post({"event": "dice", "callid": callid, "reason": "CALLERHANGUP", "result": "ANSWERED",
                                "duration": 12}).status_code == 200

    def recordings(self, **where) -> list:
        with self.app.app_context():
            query = select(Recording).filter_by(**where).order_by(Recording.segment)
            return list(db.session.scalars(query))

    def one(self, **where):
        [row] = self.recordings(**where)
        return row

    def verified(self, callid: str, data: bytes | None = None):
        """A call recorded, uploaded, announced and proven: its catalogue row."""
        uri = self.call(callid)
        self.store.upload(uri, data if data is not None else audio("mp3", 2))
        self.notify(callid, "recording_available", uri)
        self.queue.run(self.app)
        row = self.one(call_id=callid)
        assert row.status == "verified", row.failure_reason
        return row


class Receiver:
    """A webhook receiver: keeps what it is sent, answers as told (``answers``: statuses in turn,
    then 200); ``hold`` makes it wait before answering until released."""

    def __init__(self, secret: str):
        self.secret, self.received, self.answers = secret, [], []
        self.hold = threading.Event()
        self.hold.set()
        app = Flask("receiver")

        @app.post("/hook")
        def hook():
            self.received.append((dict(request.headers), request.get_data()))
            self.hold.wait(30)
            status = self.answers.pop(0) if self.answers else 200
            if status in (301, 302, 307, 308):
                return "", status, {"Location": "http://127.0.0.1:9/elsewhere"}
            return ("no" if status >= 400 else "ok"), status

        self.served = Served(app)
        self.url = f"{self.served.url}/hook"

    def events(self) -> list[dict]:
        """What arrived, each verified by the Standard Webhooks library (it raises on a bad one)."""
        return [Webhook(self.secret).verify(body, headers) for headers, body in self.received]

    def of(self, recording_id: str) -> list[str]:
        """The types of the events about one recording, in the order they arrived."""
        return [event["type"] for event in self.events() if event["data"].get("id") == recording_id]

    def close(self):
        self.hold.set()
        self.served.close()
