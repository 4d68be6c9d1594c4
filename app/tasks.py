"""The task queue: one huey instance, configured by the factory from the settings.

SQLite by default (``HUEY_SQLITE_PATH``), Redis when ``REDIS_URL`` is set, so the web and worker
processes of one deployment share it. Task modules decorate their functions with this
``huey``; the worker's entry (``app.worker``) imports them and runs the consumer. Until
:func:`configure` has run (``create_app`` calls it), the queue refuses work rather than losing
it. Tasks run inside a Flask app context: the caller's when there is one (a test running the
queue), else the worker's app (:func:`use_app`).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Callable

from flask import current_app, has_app_context
from huey import Huey
from huey.storage import BaseStorage, RedisStorage, SqliteStorage
from redis import ConnectionPool

from app.metrics import SharedCounts
from app.settings import Settings


class Unconfigured(BaseStorage):
    """The queue before the factory configured it: every call says so."""

    def __getattribute__(self, name):
        if name in ("name", "__class__", "__dict__") or name.startswith("__"):
            return object.__getattribute__(self, name)
        raise RuntimeError("the task queue is not configured yet: build the app (create_app) first")


huey = Huey("sinch-recorder", storage_class=Unconfigured)
_worker_app = None


@lru_cache(maxsize=8)
def _storage(name: str, redis_url: str | None, tls_verify: bool, sqlite_path: str) -> BaseStorage:
    """One storage per configuration, shared by every app of the process (tests build many)."""
    if redis_url:
        options = {}
        if redis_url.startswith("rediss://") and not tls_verify:
            options["ssl_cert_reqs"] = "none"  # explicit opt-in (REDIS_TLS_VERIFY=false): Heroku's self-signed cert
        return RedisStorage(name, connection_pool=ConnectionPool.from_url(redis_url, **options))
    return SqliteStorage(name, filename=sqlite_path)


def build_storage(settings: Settings) -> BaseStorage:
    if not settings.redis_url:
        settings.huey_sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return _storage(settings.huey_name, settings.redis_url, settings.redis_tls_verify, str(settings.huey_sqlite_path))


def configure(settings: Settings) -> Huey:
    """Point the queue at the storage the settings name."""
    huey.name = settings.huey_name
    huey.storage = build_storage(settings)
    return huey


def init_app(app) -> None:
    """The queue, and the worker counts shared through it when it is Redis (``SharedCounts``)."""
    settings = app.extensions["settings"]
    app.extensions["huey"] = configure(settings)
    redis = huey.storage.conn if isinstance(huey.storage, RedisStorage) else None
    app.extensions["shared_counts"] = SharedCounts(redis, f"{settings.huey_name}:metrics")


def use_app(app) -> None:
    """The app the worker's tasks run in (``app.worker`` built it)."""
    global _worker_app
    _worker_app = app


def app_context():
    """The Flask app context tasks run in."""
    if has_app_context():
        return nullcontext()
    if _worker_app is None:
        raise RuntimeError("no app for this task: the worker runs with python -m app.worker")
    return _worker_app.app_context()


def first_in_slot(name: str, slot: datetime, previous: datetime) -> bool:
    """True for the first caller of ``name`` in this time slot, across every worker process that
    shares the queue; later callers get False.

    Every consumer's scheduler enqueues each periodic task, so with N worker processes (or dynos)
    the task is queued N times per interval: it claims its slot first (an atomic set-if-absent in
    the queue's storage, SQLite or Redis), and the key of the slot before is dropped, so one key
    per task remains.
    """
    if not huey.put_if_empty(f"periodic.{name}.{slot:%Y%m%dT%H%M}", "1"):
        return False
    huey.delete(f"periodic.{name}.{previous:%Y%m%dT%H%M}")
    return True


def first_this_hour(name: str, now: datetime) -> bool:
    """:func:`first_in_slot` for an hourly task: True for the first worker in ``now``'s hour."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return first_in_slot(name, hour, hour - timedelta(hours=1))


def prune_this_hour(slot: str, setting: str, prune: Callable[[int, datetime], int], done: str,
                    logger: logging.Logger) -> int | None:
    """An hourly retention task's body: the first worker this hour only runs ``prune(days, now)``
    with the days of ``setting`` and, when it deleted anything, logs ``done``; how many (None:
    another worker has this hour)."""
    now = datetime.now(timezone.utc)
    if not first_this_hour(slot, now):
        return None
    with app_context():
        days = getattr(current_app.extensions["settings"], setting)
        deleted = prune(days, now)
    if deleted:
        logger.info(done, extra={"deleted": deleted, "retain_days": days})
    return deleted


@huey.task()
def ping() -> str:
    """A no-op round trip through the queue, used to check that a worker is consuming."""
    return "pong"
