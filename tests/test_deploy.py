"""The Heroku-style deployment files stay true to the settings (declared once, in app/settings.py)."""

import json

from app.settings import DECLARED, PLATFORM_SET, app_json, load_settings, operations_page
from app.tasks import build_storage
from tests.processes import ROOT


def test_app_json_describes_every_setting_as_declared_and_runs_web_and_worker():
    app = json.loads((ROOT / "app.json").read_text())
    assert app == app_json(app), "app.json differs from app/settings.py: run flask --app wsgi settings document"
    assert set(app["env"]) == {setting.env for setting in DECLARED} - PLATFORM_SET
    assert {addon["plan"] for addon in app["addons"]} == {"heroku-postgresql", "heroku-redis"}
    assert set(app["formation"]) == {"web", "worker"}
    assert app["env"]["FORWARDED_ALLOW_IPS"]["value"] == "*"
    assert (ROOT / ".python-version").read_text().strip() == "3.11"


def test_the_docs_settings_table_is_the_declared_one():
    page = (ROOT / "docs" / "operations.md").read_text()
    assert page == operations_page(page), "docs/operations.md differs from app/settings.py: run flask --app wsgi settings document"
    for setting in DECLARED:
        assert f"| `{setting.env}` |" in page


def test_every_declared_default_loads_and_every_variable_the_processes_read_is_declared():
    import re

    load_settings({setting.env: setting.default for setting in DECLARED})
    read = set(re.findall(r'_env\(["\x27]([A-Z_]+)["\x27]\)', (ROOT / "config" / "gunicorn.conf.py").read_text()))
    read |= set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "Procfile").read_text()))
    assert read <= {setting.env for setting in DECLARED}, read
    assert {"WEB_CONCURRENCY", "HUEY_WORKERS"} <= read


def test_heroku_redis_tls_needs_an_explicit_opt_in():
    strict = build_storage(load_settings({"REDIS_URL": "rediss://:pw@redis.example.com:6380", "HUEY_NAME": "t"}))
    relaxed = build_storage(load_settings({"REDIS_URL": "rediss://:pw@redis.example.com:6380", "HUEY_NAME": "t",
                                           "REDIS_TLS_VERIFY": "false"}))
    assert strict.conn.connection_pool.connection_kwargs.get("ssl_cert_reqs") != "none"
    assert relaxed.conn.connection_pool.connection_kwargs["ssl_cert_reqs"] == "none"
