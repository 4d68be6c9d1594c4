"""Fixtures for the whole suite: the database, the task queue, the app and a signing client.

The suite runs on SQLite and the SQLite queue by default. With ``TEST_DATABASE_URL`` it runs
on a fresh PostgreSQL database made for this run (dropped afterwards); with ``TEST_REDIS_URL``
the queue is Redis under a key prefix of this run. CI sets both (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from app import create_app, tasks
from app.db import db
from app.events.models import Event, EventSequence, WebhookAttempt, WebhookDelivery
from app.evidence.models import EvidenceLeaf, EvidenceNode, TreeHead
from app.journal import JournalEntry
from app.recordings.models import Call, CopyJob, Recording
from app.settings import load_settings
from tests import storage_servers as servers
from tests.support import APP_KEY, APP_SECRET, RULES_DIR, Databases, SinchClient, Store, unavailable

RUN_ID = uuid.uuid4().hex[:10]
_TMP = Path(tempfile.mkdtemp(prefix=f"sinch-recorder-tests-{RUN_ID}-"))


def pytest_configure(config):
    """The run's environment, which processes the tests start inherit: a queue of its own
    (Redis under a prefix of this run with TEST_REDIS_URL), and no outside database or app."""
    os.environ["SINCH_SIMULATOR_CROSSCHECK"] = "1"  # the simulator's schema and the service's check must agree
    os.environ["HUEY_NAME"] = f"sinch-recorder-test-{RUN_ID}"
    os.environ["HUEY_SQLITE_PATH"] = str(_TMP / "huey.db")
    if os.environ.get("TEST_REDIS_URL"):
        os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    else:
        os.environ.pop("REDIS_URL", None)
    for name in ("DATABASE_URL", "SINCH_APPLICATION_KEY", "SINCH_APPLICATION_SECRET", "SINCH_APPLICATIONS"):
        os.environ.pop(name, None)
    tasks.configure(load_settings(os.environ))


def pytest_sessionfinish(session, exitstatus):
    tasks.configure(load_settings(os.environ)).flush()  # this run's queue (a test may have pointed it elsewhere)
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def databases():
    made = Databases(folder=_TMP)
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

    first = factory()
    with first.app_context():
        for model in (JournalEntry, Recording, Call, CopyJob, Event, WebhookDelivery, WebhookAttempt, EvidenceLeaf,
                      EvidenceNode, TreeHead):
            db.session.execute(model.__table__.delete())
        db.session.execute(EventSequence.__table__.update().where(
            EventSequence.name.in_(("evidence", "evidence_copies"))).values(last=0))
        db.session.commit()
    spool = first.extensions["sinch_recorder"].spool  # with Redis, the spool is shared by the run
    if spool.redis is not None:
        spool.redis.delete(spool.key, *spool.redis.scan_iter(match=f"{spool.key}:*"))
    yield factory
    for app in created:
        app.extensions["copies"].wait(60)  # no copy thread outlives its test
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def sinch(app) -> SinchClient:
    return SinchClient(app.test_client())


# --------------------------------------------------------------------------- storage servers


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


@pytest.fixture(params=["s3", "azure", "gs"])
def store(request):
    """A fresh bucket on each real server (``indirect`` parametrization picks fewer schemes)."""
    server = request.getfixturevalue({"s3": "s3_server", "azure": "azure_server", "gs": "gcs_server"}[request.param])
    return Store(request.param, server, f"rec-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def queue():
    """The real task queue, emptied; ``queue.run(app)`` executes what is due, in the app."""
    huey = tasks.huey
    huey.flush()

    class Queue:
        def run(self, app, *, scheduled: bool = False) -> int:
            """Execute queued tasks (and, with ``scheduled``, delayed ones now) until none is left."""
            from datetime import datetime as moment
            from datetime import timedelta

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
