"""Typed settings: environment variables, each declared once, in :data:`DECLARED`.

One line per setting says its variable, its default, what it means, how its text is read
(a marshmallow field, so a bad value stops the start with a message naming the variable) and,
where the app reads it, the :class:`Settings` attribute it fills. ``app.json`` and the settings
table in ``docs/operations.md`` are checked against this table by the tests. Values of secrets
are never echoed in an error or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from marshmallow import Schema, ValidationError, fields, validate

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


def _decode_secret(secret: str) -> bytes:
    """Sinch application secrets are base64; HMAC keys are the decoded bytes."""
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("is not valid base64 (copy the secret from the Sinch dashboard)")


class Applications(fields.String):
    """``key:secret,key:secret`` (comma-separated; the secret itself may not hold a comma)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        pairs = {}
        for position, item in enumerate(filter(None, (p.strip() for p in text.split(","))), 1):
            key, sep, secret = item.partition(":")
            if not sep or not key or not secret:
                raise ValidationError(f"entry {position} is not of the form key:secret")
            try:
                pairs[key] = _decode_secret(secret)
            except ValidationError as error:
                raise ValidationError(f"entry {position}: the secret {error.messages[0]}")
        return pairs


class SigningKey(fields.String):
    """The standard base64 of a raw 32-byte Ed25519 private key (empty: none); the key itself."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return None
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("is not standard base64 (make one with flask evidence keygen)") from None
        if len(raw) != 32:
            raise ValidationError(f"holds {len(raw)} bytes, not the 32 of an Ed25519 private key "
                                  "(make one with flask evidence keygen)")
        return Ed25519PrivateKey.from_private_bytes(raw)


class JsonObject(fields.String):
    """A JSON object written in one environment variable (empty means unset)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except ValueError as error:
            raise ValidationError(f"is not valid JSON ({error.msg} at char {error.pos})")
        if not isinstance(parsed, dict):
            raise ValidationError("must be a JSON object")
        return parsed


class Flag(fields.Boolean):
    truthy = {"1", "true", "yes", "on", "True", "TRUE"}
    falsy = {"0", "false", "no", "off", "False", "FALSE", ""}


def _project_path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def database_url(url: str) -> str:
    """Normalise a database URL for SQLAlchemy.

    Heroku gives ``postgres://``, which SQLAlchemy 2 no longer accepts; both that and a bare
    ``postgresql://`` are pointed at the psycopg 3 driver this project installs. A relative
    SQLite path is taken from the project root.
    """
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("postgresql+psycopg", "sqlite"):
        driver = " (this service ships psycopg 3: write postgresql://…)" if scheme.startswith("postgres") else ""
        raise ValidationError(f"{scheme or url[:20]!r} is not supported{driver}; "
                              "use postgresql://user@host:5432/name or sqlite:///path/to/file.db")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///"):]
        if rest and not rest.startswith(":memory:"):
            return "sqlite:///" + str(_project_path(rest))
    return url


def _optional_path(value: str) -> Path | None:
    return _project_path(value) if value.strip() else None


def _optional(value: str) -> str | None:
    return value.strip() or None


def _tokens(value: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in value.split(",") if token.strip())


def _url(pattern: str, error: str) -> validate.Regexp:
    return validate.Regexp(pattern, error=error)


@dataclass(frozen=True)
class Setting:
    env: str                                  # the environment variable
    default: str                              # as it would be written in the environment
    help: str                                 # what it means (app.json, docs/operations.md)
    field: fields.Field | None = None         # how the app reads it; None: the processes do (gunicorn, Procfile)
    attribute: str | None = None              # the Settings attribute it fills (None: only a derived one)
    convert: Callable[[Any], Any] = lambda value: value


_RANGE = validate.Range
DECLARED: tuple[Setting, ...] = (
    Setting("SINCH_APPLICATION_KEY", "", "The Sinch Voice application's key (Dashboard → Voice & Video → Apps).",
            fields.String()),
    Setting("SINCH_APPLICATION_SECRET", "", "The application's secret, base64 as shown in the dashboard.",
            fields.String()),
    Setting("SINCH_APPLICATIONS", "", "More key:secret pairs, comma-separated, for key rotation or several apps.",
            Applications()),
    Setting("SINCH_VERIFY_SIGNATURES", "true", "Verify Sinch's request signatures. Keep true outside local "
            "experiments.", Flag(), "verify_signatures"),
    Setting("SINCH_SIGNATURE_MAX_SKEW", "600", "Seconds an x-timestamp may differ from the server clock.",
            fields.Integer(validate=_RANGE(min=1, max=86400)), "signature_max_skew"),
    Setting("SINCH_FALLBACK_ICE_SVAML", "", "SVAML (JSON) answered to ICE when anything fails; empty: connect the "
            "dialled destination.", JsonObject(allow_none=True)),
    Setting("SINCH_FALLBACK_ACE_SVAML", "", "SVAML (JSON) answered to ACE when anything fails; empty: continue.",
            JsonObject(allow_none=True)),
    Setting("SINCH_FALLBACK_PIE_SVAML", "", "SVAML (JSON) answered to PIE when anything fails; empty: continue.",
            JsonObject(allow_none=True)),
    Setting("SINCH_CALLING_BASE_URL", "https://calling.api.sinch.com", "Sinch's calling API for calls that came "
            "without a callResourceUrl (e.g. https://calling-euc1.api.sinch.com).",
            fields.String(validate=_url(r"^https?://", "must be an http(s) URL, e.g. https://calling-euc1.api.sinch.com")),
            "calling_base_url"),
    Setting("INSTANCE_PATH", "instance",
            "Local state: the journal spool, the last good ruleset and the compiled one the processes share.",
            fields.String(validate=validate.Length(min=1)), "instance_path", _project_path),
    Setting("UPSTREAM_CALLBACK_URL", "", "Sidecar mode: your existing Sinch backend; every callback is forwarded "
            "there.", fields.String(validate=_url(r"^(https?://.+)?$", "must be the upstream's http(s) callback URL, "
                                                                         "or empty")), "upstream_url", _optional),
    Setting("UPSTREAM_TIMEOUT_MS", "500", "Sidecar mode: the deadline for the upstream's whole answer (connect, headers, "
            "body) per callback, in milliseconds; past it the fallback answers, with the recording.",
            fields.Integer(validate=_RANGE(min=10, max=10000)), "upstream_timeout_ms"),
    Setting("UPSTREAM_POOL_SIZE", "20", "Sidecar mode: kept-alive connections to the upstream.",
            fields.Integer(validate=_RANGE(min=1, max=1000)), "upstream_pool_size"),
    Setting("DATABASE_URL", "sqlite:///instance/sinch-recorder.db", "The database: postgresql://… (Heroku's "
            "postgres://… too) or sqlite:///path.", fields.String(validate=validate.Length(min=1)), "database_url"),
    Setting("REDIS_URL", "", "Redis for the task queue (else SQLite); rediss:// for TLS.", fields.String(),
            "redis_url", _optional),
    Setting("REDIS_TLS_VERIFY", "true", "Verify the Redis server's TLS certificate; Heroku Redis uses a "
            "self-signed one, so false there.", Flag(), "redis_tls_verify"),
    Setting("HUEY_SQLITE_PATH", "instance/huey.db", "The SQLite task queue's file, when REDIS_URL is empty.",
            fields.String(validate=validate.Length(min=1)), "huey_sqlite_path", _project_path),
    Setting("HUEY_NAME", "sinch-recorder", "Queue name (Redis key prefix).",
            fields.String(validate=validate.Length(min=1)), "huey_name"),
    Setting("RULES_FILE", "", "The recording ruleset (YAML) you commit, relative to the app root, e.g. "
            "config/rules.yaml. Unset: the demo ruleset answers, and the log, /readyz and the operator page say so; "
            "a file that cannot be read stops the start.", fields.String(), "rules_file", _optional_path),
    Setting("RULES_ALLOW_LITERAL_CREDENTIALS", "false", "Development only: accept credentials written in the "
            "ruleset.", Flag(), "rules_allow_literal_credentials"),
    Setting("RULES_WATCH_SECONDS", "0", "Reload the ruleset when the file changes, checked this often (0: off).",
            fields.Float(validate=_RANGE(min=0, max=3600)), "rules_watch_seconds"),
    Setting("API_TOKENS", "", "Comma-separated bearer tokens for /api/v1 and the operator page.", fields.String(),
            "api_tokens", _tokens),
    Setting("SECRET_KEY", "", "Signs the operator page's session cookie and forms: a long random value, the same on "
            "every web process. Unset: the operator page is off (in development, flask run --debug, a random key "
            "per process).",
            fields.String(), "secret_key"),
    Setting("COPY_ALLOWED_ENDPOINTS", "", "Comma-separated store endpoints (https://host:port) a copy with "
            "explicit credentials may reach besides the public clouds and the ruleset's own destinations.",
            fields.String(), "copy_allowed_endpoints", _tokens),
    Setting("COPY_THREADS", "2", "Copies with explicit credentials running at once in each web process.",
            fields.Integer(validate=_RANGE(min=1, max=64)), "copy_threads"),
    Setting("RECORDING_MIN_DURATION_MS", "1000", "Recordings shorter than this fail verification.",
            fields.Integer(validate=_RANGE(min=0, max=3_600_000)), "recording_min_duration_ms"),
    Setting("RECORDING_DEADLINE_SECONDS", "900", "After the call ends, how long a recording may take to become "
            "available.", fields.Integer(validate=_RANGE(min=0, max=7 * 86400)), "recording_deadline_seconds"),
    Setting("CALL_MAX_SECONDS", "14400", "The longest a call lasts (Sinch's maxDuration limit, 4 h): a recording "
            "whose call's end was never heard of is looked for this long after it was requested, plus "
            "RECORDING_DEADLINE_SECONDS.", fields.Integer(validate=_RANGE(min=60, max=7 * 86400)), "call_max_seconds"),
    Setting("VERIFY_DEADLINE_SECONDS", "900", "After recording_available, how long to wait for a file that is not "
            "there yet.", fields.Integer(validate=_RANGE(min=0, max=7 * 86400)), "verify_deadline_seconds"),
    Setting("VERIFY_STALE_SECONDS", "600", "A check not heard of for this long (its worker was killed, say) is "
            "queued again by the sweeper.", fields.Float(validate=_RANGE(min=10, max=86400)), "verify_stale_seconds"),
    Setting("VERIFY_RETRY_SECONDS", "5", "First retry delay of a verification; doubles up to 5 minutes.",
            fields.Float(validate=_RANGE(min=0, max=3600)), "verify_retry_seconds"),
    Setting("STORAGE_TIMEOUT_SECONDS", "60", "How long a read from a store may wait for its next bytes: a store "
            "that hangs fails the read after this, and the check is retried.",
            fields.Float(validate=_RANGE(min=1, max=600)), "storage_timeout_seconds"),
    Setting("JOURNAL_BUDGET_MS", "2000", "How long a callback waits for the database (its state, its journal row) "
            "before ICE/ACE/PIE get the fallback and the entry is spooled: a database that hangs costs a call this, "
            "not the call. 0: no budget (wait as long as the driver does).",
            fields.Integer(validate=_RANGE(min=0, max=20000)), "journal_budget_ms"),
    Setting("JOURNAL_GROUP_WAIT_MS", "2", "When callbacks come together, how long the group commit waits for more "
            "to share one database commit (less CPU per callback, at most this much later a reply). 0: commit at "
            "once.", fields.Float(validate=_RANGE(min=0, max=50)), "journal_group_wait_ms"),
    Setting("JOURNAL_RETAIN_DAYS", "90", "How long callbacks stay in the journal: every hour the worker deletes "
            "those received longer ago (never one whose replay is pending). 0: keep them for ever.",
            fields.Integer(validate=_RANGE(min=0, max=36500)), "journal_retain_days"),
    Setting("BODY_READ_SECONDS", "1", "How long a request's body may take to arrive once its headers are in; "
            "slower gets 408 and the connection closes, so clients that trickle cannot hold the web threads. "
            "0: no deadline.", fields.Float(validate=_RANGE(min=0, max=60)), "body_read_seconds"),
    Setting("MAX_CALLBACK_BYTES", "65536", "Larger bodies get 413 (chunked ones too, as they arrive).",
            fields.Integer(validate=_RANGE(min=1024, max=16 * 1024 * 1024)), "max_callback_bytes"),
    Setting("EVENTS_RETAIN_DAYS", "0", "How long the event log (the feed, the webhooks' events) keeps an event: "
            "every hour the worker deletes older ones with their deliveries (never one still pending). 0: keep "
            "them for ever.", fields.Integer(validate=_RANGE(min=0, max=36500)), "events_retain_days"),
    Setting("EVIDENCE_SIGNING_KEY", "", "The transparency log's Ed25519 private key, standard base64 of its raw 32 "
            "bytes (flask evidence keygen makes one). Unset: the log is off.", SigningKey(), "evidence_signing_key"),
    Setting("EVIDENCE_STH_SECONDS", "60", "How often the worker signs a new tree head of the transparency log, "
            "when the log grew (it looks every minute).", fields.Integer(validate=_RANGE(min=60, max=86400)),
            "evidence_sth_seconds"),
    Setting("WEBHOOK_TIMEOUT_SECONDS", "10", "How long a webhook receiver has for its whole answer; anything but a "
            "2xx within it is retried.", fields.Float(validate=_RANGE(min=0.1, max=60)), "webhook_timeout_seconds"),
    Setting("WEBHOOK_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,36000", "Seconds before each retry of a webhook "
            "delivery (comma-separated, each with ±20 % jitter); once spent, the delivery is failed.",
            fields.String(validate=validate.Regexp(r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$",
                                                   error="must be seconds separated by commas, e.g. 5,300,1800")),
            "webhook_retry_schedule", lambda text: tuple(float(part) for part in text.split(","))),
    Setting("WEBHOOKS_ALLOW_HTTP", "false", "Development only: send webhooks over plain http too.", Flag(),
            "webhooks_allow_http"),
    Setting("WEBHOOKS_ALLOW_HOSTS", "", "Comma-separated hosts a webhook may reach although they resolve to a "
            "loopback, private or link-local address (an internal receiver).", fields.String(),
            "webhooks_allow_hosts", lambda text: frozenset(host.lower() for host in _tokens(text))),
    Setting("WEBHOOK_POLL_SECONDS", "1", "How often each worker looks for new events and webhook deliveries due.",
            fields.Float(validate=_RANGE(min=0.05, max=60)), "webhook_poll_seconds"),
    Setting("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR.",
            fields.String(validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])), "log_level"),
    # Read by the processes themselves: gunicorn (config/gunicorn.conf.py) and the Procfile's worker
    # (WEB_THREADS by the app too: the group commit waits for at most that many writes).
    Setting("PORT", "8000", "The web process's port (set by Heroku and honcho)."),
    Setting("WEB_CONCURRENCY", "2", "gunicorn worker processes per web dyno."),
    Setting("WEB_THREADS", "4", "Threads per gunicorn worker (also the largest group the journal's group commit "
            "waits for).", fields.Integer(validate=_RANGE(min=1, max=1024)),
            "web_threads"),
    Setting("FORWARDED_ALLOW_IPS", "127.0.0.1", "Proxies trusted for X-Forwarded-*; Heroku's router needs *."),
    Setting("GUNICORN_TIMEOUT", "30", "Seconds before gunicorn restarts a stuck worker."),
    Setting("HUEY_WORKERS", "2", "Worker threads of the task consumer."),
    Setting("GUNICORN_HOST", "0.0.0.0", "The address gunicorn binds (127.0.0.1 for loopback only)."),
    Setting("GUNICORN_ACCESS_LOG", "-", "gunicorn's access log: - for stdout (JSON lines), or a file."),
)
BY_NAME = {setting.env: setting for setting in DECLARED}
_READ = tuple(setting for setting in DECLARED if setting.field is not None)
_SCHEMA = Schema.from_dict({setting.env: setting.field for setting in _READ}, name="SettingsSchema")()


def _settings_class():
    columns = [(s.attribute, Any, field(repr=False)) for s in _READ if s.attribute]
    columns += [("applications", Mapping[str, bytes], field(repr=False)),   # application key -> decoded secret
                ("fallback_svaml", Mapping[str, "dict | None"], field(repr=False))]  # "ice"/"ace"/"pie" -> SVAML

    def __repr__(self) -> str:  # never show secrets, even in a debugger or a traceback
        return (f"Settings(applications={sorted(self.applications)}, database_url=<set>, "
                f"redis_url={'<set>' if self.redis_url else None})")

    return make_dataclass("Settings", columns, frozen=True, namespace={
        "__repr__": __repr__, "__doc__": "The settings the app reads: one attribute per declared setting."})


Settings = _settings_class()


def default(name: str) -> str:
    """A setting's default, as written in the environment (the processes read theirs with it)."""
    return BY_NAME[name].default


def load_settings(environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from the declared defaults, then ``environ``, then ``overrides`` (tests)."""
    values = {setting.env: environ.get(setting.env, setting.default) for setting in _READ}
    values.update({key: str(value) for key, value in (overrides or {}).items()})
    try:
        data = _SCHEMA.load(values)
        derived = {"applications": _applications(data), "fallback_svaml": {
            kind: data[f"SINCH_FALLBACK_{kind.upper()}_SVAML"] for kind in ("ice", "ace", "pie")}}
        try:
            data["DATABASE_URL"] = database_url(data["DATABASE_URL"])
        except ValidationError as error:
            raise ValidationError(error.messages, "DATABASE_URL")
    except ValidationError as error:
        raise SettingsError(describe_errors(error.normalized_messages())) from None
    return Settings(**{s.attribute: s.convert(data[s.env]) for s in _READ if s.attribute}, **derived)


def _applications(data: Mapping[str, Any]) -> dict[str, bytes]:
    applications = dict(data["SINCH_APPLICATIONS"])
    key, secret = data["SINCH_APPLICATION_KEY"].strip(), data["SINCH_APPLICATION_SECRET"].strip()
    if bool(key) != bool(secret):
        raise ValidationError("set both SINCH_APPLICATION_KEY and SINCH_APPLICATION_SECRET, or neither",
                              "SINCH_APPLICATION_KEY")
    if key:
        try:
            applications[key] = _decode_secret(secret)
        except ValidationError as error:
            raise ValidationError(error.messages, "SINCH_APPLICATION_SECRET")
    return applications


def describe_errors(messages: Mapping[str, Any]) -> str:
    parts = []
    for name, problems in sorted(messages.items()):
        text = "; ".join(problems) if isinstance(problems, list) else str(problems)
        parts.append(f"{name}: {text}")
    return "invalid settings: " + " | ".join(parts)


# --------------------------------------------------------------------------- the documents made from DECLARED

APP_JSON = PROJECT_ROOT / "app.json"
OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"
PLATFORM_SET = {"DATABASE_URL", "REDIS_URL", "PORT"}  # Heroku's add-ons and router set these
TABLE_BEGIN, TABLE_END = "<!-- settings table: flask settings document -->", "<!-- end of settings table -->"


def app_json(current: dict) -> dict:
    """``app.json`` with one ``env`` entry per declared setting, described as declared (its
    Heroku ``value`` and ``required`` kept)."""
    env = {}
    for setting in DECLARED:
        if setting.env not in PLATFORM_SET:
            env[setting.env] = {**current.get("env", {}).get(setting.env, {"required": False}),
                                "description": setting.help}
    return {**current, "env": env}


def settings_table() -> str:
    rows = [f"| `{s.env}` | {f'`{s.default}`' if s.default else '—'} | {s.help} |" for s in DECLARED]
    return "\n".join([TABLE_BEGIN, "| Variable | Default | Meaning |", "|---|---|---|", *rows, TABLE_END])


def operations_page(text: str) -> str:
    before, _, rest = text.partition(TABLE_BEGIN)
    _, _, after = rest.partition(TABLE_END)
    return before + settings_table() + after


def write_documents() -> list[Path]:
    """Write ``app.json``'s env and the docs' settings table from :data:`DECLARED`."""
    APP_JSON.write_text(json.dumps(app_json(json.loads(APP_JSON.read_text())), indent=2, ensure_ascii=True) + "\n")
    OPERATIONS.write_text(operations_page(OPERATIONS.read_text()))
    return [APP_JSON, OPERATIONS]
