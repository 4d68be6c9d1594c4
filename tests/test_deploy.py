"""The Heroku-style deployment files stay true to the settings."""

import json
import tomllib

from app.settings import load_settings
from app.tasks import build_storage
from tests.processes import ROOT


def test_app_json_describes_every_setting_and_runs_web_and_worker():
    app = json.loads((ROOT / "app.json").read_text())
    defaults = set(tomllib.loads((ROOT / "config" / "defaults.toml").read_text())) - {"DATABASE_URL", "REDIS_URL"}
    assert defaults <= set(app["env"])
    assert all(entry["description"] for entry in app["env"].values())
    assert {addon["plan"] for addon in app["addons"]} == {"heroku-postgresql", "heroku-redis"}
    assert set(app["formation"]) == {"web", "worker"}
    assert app["env"]["FORWARDED_ALLOW_IPS"]["value"] == "*"
    assert (ROOT / ".python-version").read_text().strip() == "3.11"


def test_heroku_redis_tls_needs_an_explicit_opt_in():
    strict = build_storage(load_settings({"REDIS_URL": "rediss://:pw@redis.example.com:6380", "HUEY_NAME": "t"}))
    relaxed = build_storage(load_settings({"REDIS_URL": "rediss://:pw@redis.example.com:6380", "HUEY_NAME": "t",
                                           "REDIS_TLS_VERIFY": "false"}))
    assert strict.conn.connection_pool.connection_kwargs.get("ssl_cert_reqs") != "none"
    assert relaxed.conn.connection_pool.connection_kwargs["ssl_cert_reqs"] == "none"
