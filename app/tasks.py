"""The task queue: huey on SQLite by default, on Redis when ``REDIS_URL`` is set.

The worker process runs ``python -m app.worker`` (see the Procfile). The queue is
configured from the environment when this module is imported, so the web and worker
processes of one deployment always share it. Tasks run inside a Flask app context: the web
app's when enqueued from a request in immediate mode, else one the worker builds once.
"""

from __future__ import annotations

import os
from contextlib import nullcontext

from huey import RedisHuey, SqliteHuey

from app.settings import Settings, load_settings


def build_huey(settings: Settings):
    if settings.redis_url:
        from redis import ConnectionPool

        options = {}
        if settings.redis_url.startswith("rediss://") and not settings.redis_tls_verify:
            options["ssl_cert_reqs"] = "none"  # explicit opt-in (REDIS_TLS_VERIFY=false): Heroku's self-signed cert
        return RedisHuey(settings.huey_name, connection_pool=ConnectionPool.from_url(settings.redis_url, **options))
    settings.huey_sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(settings.huey_name, filename=str(settings.huey_sqlite_path))


huey = build_huey(load_settings(os.environ))
_worker_app = None


def use_app(app) -> None:
    """The app the worker's tasks run in (``app.worker`` built it)."""
    global _worker_app
    _worker_app = app


def app_context():
    """The Flask app context tasks run in."""
    from flask import has_app_context

    if has_app_context():
        return nullcontext()
    global _worker_app
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    return _worker_app.app_context()


@huey.task()
def ping() -> str:
    """A no-op round trip through the queue, used to check that a worker is consuming."""
    return "pong"


import app.recordings.tasks  # noqa: E402,F401  (registers the recording tasks with the queue)
