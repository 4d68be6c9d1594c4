"""sinch-recorder: recording policy, proof and a catalogue for Sinch Voice applications.

:func:`create_app` builds the Flask app: settings from the environment (or a test's mapping),
the database and migrations, the callback, health and metrics blueprints, JSON logs and errors.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from typing import Any, Mapping

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.settings import PROJECT_ROOT, Settings, SettingsError, load_settings

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The application. ``test_config`` overrides settings by their environment names."""
    from app import callbacks, cli, health, operator
    from app.operator.access import session_key
    from app.recordings.copies import WebRunner
    from app.callbacks.handler import CallbackRuntime
    from app.callbacks.replies import Replier, validated_fallbacks
    from app.db import db, engine_options, migrate
    from app.api import init_api
    from app.errors import register_error_handlers
    from app.cli import running_a_command
    from app.logs import COMMAND_LEVEL, configure_logging
    from app.tasks import huey

    settings = load_settings(os.environ, test_config)
    configure_logging(COMMAND_LEVEL if running_a_command() else settings.log_level)
    try:
        fallbacks = validated_fallbacks(settings.fallback_svaml)
    except ValueError as error:
        raise SettingsError(str(error)) from None

    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=settings.max_callback_bytes,
    )
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    app.extensions["settings"] = settings
    app.extensions["huey"] = huey
    os.makedirs(settings.instance_path, exist_ok=True)
    rules = _load_rules(settings)
    app.extensions["rules"] = rules
    app.extensions["copies"] = WebRunner(app, settings.copy_threads)
    replier = Replier(decide=rules_decider(rules), fallbacks=fallbacks, load_call=_call_loader())
    replier.sidecar = _sidecar(settings, rules, replier)
    app.extensions["sinch_recorder"] = CallbackRuntime(
        settings=settings, replier=replier, spool_dir=settings.instance_path / "spool",
    )
    app.register_blueprint(callbacks.bp)
    cli.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(operator.bp)
    app.secret_key = session_key(settings.secret_key, settings.api_tokens)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    register_error_handlers(app)
    init_api(app)
    _install_request_id(app)
    _warn_about(settings)
    return app


def _load_rules(settings: Settings):
    """The live ruleset; an unreadable or broken file stops the start (see ``rules.loader``)."""
    from app.rules.loader import DEMO_WARNING, RulesHolder, last_good_copy, rules_path
    from app.rules.schema import RulesError

    from app.sidecar import consent_conflicts

    path = rules_path(settings.rules_file)
    try:
        holder = RulesHolder(path, os.environ,
                             allow_literal_credentials=settings.rules_allow_literal_credentials,
                             snapshot=last_good_copy(settings.instance_path, path),
                             check=lambda ruleset: consent_conflicts(ruleset, settings.upstream_url),
                             demo=settings.rules_file is None)
    except RulesError as error:
        raise SettingsError(f"RULES_FILE: {error}") from None
    holder.install_sighup()
    if settings.rules_watch_seconds:
        holder.watch(settings.rules_watch_seconds)
    log.info("rules loaded", extra={"rules_file": str(holder.path), "hash": holder.current.hash,
                                    "rules": len(holder.current.rules), "demo": holder.demo})
    if holder.demo:
        log.warning(DEMO_WARNING)
    return holder


def _sidecar(settings: Settings, holder, replier):
    """Sidecar mode when an upstream is configured (globally or by a rule), else None."""
    from app.sidecar import Sidecar
    from app.sidecar.upstream import UpstreamClient

    if not settings.upstream_url and not any(r.upstream and r.upstream.url for r in holder.current.rules):
        return None
    log.info("sidecar mode: callbacks are forwarded upstream", extra={"upstream": settings.upstream_url})
    return Sidecar(settings.upstream_url, UpstreamClient(settings.upstream_timeout_ms, settings.upstream_pool_size),
                   lambda: holder.current, replier.fallback, settings.applications)


def rules_decider(holder):
    """``decide(event, call)`` on the holder's current ruleset, at the current time."""
    from datetime import datetime, timezone

    from app.rules.decide import decide

    return lambda event, call: decide(event, holder.current, datetime.now(timezone.utc), call)


def _call_loader():
    from app.db import db
    from app.recordings.catalogue import load_call

    def load(call_id: str):
        with db.engine.connect() as connection:
            return load_call(connection, call_id)
    return load


def _install_request_id(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response


def _warn_about(settings: Settings) -> None:
    if not settings.verify_signatures:
        log.warning("SINCH_VERIFY_SIGNATURES is off: ANYONE can post callbacks to this service. "
                    "Use this only for local experiments.")
    elif not settings.applications:
        log.warning("no Sinch application is configured (SINCH_APPLICATION_KEY/SECRET or "
                    "SINCH_APPLICATIONS): every callback will be refused with 401 unknown_key")
