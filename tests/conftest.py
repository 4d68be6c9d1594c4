"""Fixtures for the whole suite: the database, the task queue, the app and a signing client.

The suite runs on SQLite and the SQLite queue by default. With ``TEST_DATABASE_URL`` it runs
on a fresh PostgreSQL database made for this run (dropped afterwards); with ``TEST_REDIS_URL``
the queue is Redis under a key prefix of this run. CI sets both (``.ci/run``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

RUN_ID = uuid.uuid4().hex[:10]
_TMP = Path(tempfile.mkdtemp(prefix=f"sinch-recorder-tests-{RUN_ID}-"))

# The queue is configured from the environment when app.tasks is imported: set it first.
os.environ["HUEY_NAME"] = f"sinch-recorder-test-{RUN_ID}"
os.environ["HUEY_SQLITE_PATH"] = str(_TMP / "huey.db")
if os.environ.get("TEST_REDIS_URL"):
    os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
else:
    os.environ.pop("REDIS_URL", None)
for _name in ("DATABASE_URL", "SINCH_APPLICATION_KEY", "SINCH_APPLICATION_SECRET", "SINCH_APPLICATIONS"):
    os.environ.pop(_name, None)

from app import create_app  # noqa: E402
from app.sinch.signing import sign  # noqa: E402

APP_KEY = "669E367E-6BBA-48AB-AF15-266871C28135"
APP_SECRET = "BeIukql3pTKJ8RGL5zo0DA=="
OTHER_KEY = "A1B2C3D4-0000-4000-8000-000000000002"
OTHER_SECRET = base64.b64encode(b"another-app-secret-0123").decode()


RULES_DIR = Path(__file__).parent / "rules"


def unavailable(reason: str):
    """Skip on a laptop that lacks an optional server; in CI every server must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"required test server missing in CI: {reason}")
    pytest.skip(reason)


def pytest_sessionfinish(session, exitstatus):
    from app.tasks import huey

    huey.flush()  # this run's queue keys (Redis) or tables (SQLite)
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    return _TMP


class Databases:
    """Empty databases for this run: SQLite files, or PostgreSQL databases dropped at the end."""

    def __init__(self, postgres_url: str | None = None):
        given = postgres_url or os.environ.get("TEST_DATABASE_URL")
        self.postgres = None
        if given:
            from sqlalchemy.engine import make_url

            from app.settings import database_url as normalise

            self.postgres = make_url(normalise(given))
        self.made: list[str] = []

    def _admin(self):
        import psycopg

        url = self.postgres.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(url, autocommit=True)

    def new(self, label: str) -> str:
        name = f"sr_test_{RUN_ID}_{label}"
        if self.postgres is None:
            return f"sqlite:///{_TMP / (name + '.db')}"
        with self._admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.postgres.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.made:
            with self._admin() as connection:
                for name in self.made:
                    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases():
    made = Databases()
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def database_url(databases):
    """The suite's shared database, migrated to head."""
    url = databases.new("main")
    _migrate(url)
    return url


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    with create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(_TMP / "instance")}).app_context():
        upgrade()


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app with settings overrides; journal and catalogue are emptied before each test."""
    from app.db import db
    from app.journal import JournalEntry
    from app.recordings.models import Call, CopyJob, Recording

    created = []

    def factory(**overrides):
        config = {
            "DATABASE_URL": database_url,
            "SINCH_APPLICATION_KEY": APP_KEY,
            "SINCH_APPLICATION_SECRET": APP_SECRET,
            **overrides,
        }
        config.setdefault("INSTANCE_PATH", str(tmp_path / "instance"))
        config.setdefault("RULES_FILE", str(RULES_DIR / "minimal.yaml"))
        app = create_app(config)
        created.append(app)
        return app

    with factory().app_context():
        for model in (JournalEntry, Recording, Call, CopyJob):
            db.session.execute(model.__table__.delete())
        db.session.commit()
    yield factory
    for app in created:
        app.extensions["copies"].wait(60)  # no copy thread outlives its test
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


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


@pytest.fixture
def sinch(app) -> SinchClient:
    return SinchClient(app.test_client())


def journal_rows(app) -> list:
    from app.db import db
    from app.journal import JournalEntry

    with app.app_context():
        return list(db.session.scalars(db.select(JournalEntry).order_by(JournalEntry.id)))


# --------------------------------------------------------------------------- storage servers

from tests import storage_servers as servers  # noqa: E402


def _server(start):
    try:
        server = start()
    except servers.ServerMissing as missing:
        unavailable(f"{missing} is not installed")
    yield server
    server.close()


@pytest.fixture(scope="session")
def s3_server():
    yield from _server(servers.start_seaweedfs)


@pytest.fixture(scope="session")
def azure_server():
    yield from _server(servers.start_azurite)


@pytest.fixture(scope="session")
def gcs_server():
    yield from _server(servers.start_fake_gcs)


class Store:
    """One fresh bucket (container) on a real server, the ruleset destination pointing at it,
    and an uploader holding only what Sinch holds."""

    def __init__(self, scheme: str, server, name: str):
        self.scheme, self.server, self.name = scheme, server, name
        if scheme == "s3":
            servers.s3_client(server.endpoint, *servers.S3_SERVICE).create_bucket(Bucket=name)
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


@pytest.fixture(params=["s3", "azure", "gs"])
def store(request):
    """A fresh bucket on each real server (``indirect`` parametrization picks fewer schemes)."""
    server = request.getfixturevalue({"s3": "s3_server", "azure": "azure_server", "gs": "gcs_server"}[request.param])
    return Store(request.param, server, f"rec-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def queue():
    """The real task queue, emptied; ``queue.run(app)`` executes what is due, in the app."""
    from app.tasks import huey

    huey.flush()

    class Queue:
        def run(self, app, *, scheduled: bool = False) -> int:
            """Execute queued tasks (and, with ``scheduled``, delayed ones now) until none is left."""
            from datetime import datetime as moment, timedelta

            done = 0
            later = moment.utcnow() + timedelta(days=3650)
            with app.app_context():
                while True:
                    task = huey.dequeue()
                    if task is None and scheduled:
                        due = huey.read_schedule(later)
                        for item in due:
                            huey.enqueue(item)
                        task = huey.dequeue() if due else None
                    if task is None:
                        return done
                    if not scheduled and not huey.ready_to_run(task):  # as the consumer does
                        huey.add_schedule(task)
                        continue
                    huey.execute(task, timestamp=later if scheduled else None)
                    done += 1

        def scheduled(self) -> list:
            return huey.scheduled()

    yield Queue()
    huey.flush()
