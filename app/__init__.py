"""sinch-recorder: recording policy, proof and a catalogue for Sinch Voice applications.

:func:`create_app` builds the Flask app: the settings, then one ``init_app`` per room, in the
order they depend on each other (see docs/development.md for the rooms and their arrows).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The application. ``test_config`` overrides settings by their environment names."""
    # The rooms are imported here, as flaskr's factory does, so that importing one module of the
    # package (a pure core in a test, gunicorn's config, a benchmark) does not load them all.
    from flask import Flask

    from app import api, callbacks, cli, db, errors, health, logs, operator, sidecar, storage, tasks, web
    from app.recordings import copies
    from app.rules import loader as rules
    from app.settings import load_settings
    from app.sinch import fallback

    settings = load_settings(os.environ, test_config)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.extensions["settings"] = settings
    os.makedirs(settings.instance_path, exist_ok=True)
    logs.init_app(app)       # JSON lines; quiet under a flask command
    web.init_app(app)        # request ids, the URL and body limits
    db.init_app(app)         # SQLAlchemy and the migrations
    tasks.init_app(app)      # the queue: SQLite, or Redis with REDIS_URL
    storage.init_app(app)    # how long a store may hang
    fallback.init_app(app)   # the fallback reply, checked
    rules.init_app(app)      # the live ruleset
    sidecar.init_app(app)    # forwarding to an upstream app, when one is configured
    copies.init_app(app)     # threads for copies with explicit credentials
    callbacks.init_app(app)  # POST /sinch/callback
    health.init_app(app)     # /healthz, /readyz, /metrics
    operator.init_app(app)   # the page at /
    errors.init_app(app)     # JSON errors for every HTTP error
    api.init_app(app)        # /api/v1 (flask-smorest, errors in the same shape)
    cli.init_app(app)        # the flask commands
    web.wrap(app)            # outermost: the body deadline, the proxy in front
    return app
