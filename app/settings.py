"""Typed settings: environment variables over the defaults in ``config/defaults.toml``.

Every setting is declared once, in :class:`SettingsSchema`; its ``data_key`` is the
environment variable's name, so a validation error names the variable to fix. Values of
secrets are never echoed in an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from marshmallow import Schema, ValidationError, fields, post_load, validate

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = PROJECT_ROOT / "config" / "defaults.toml"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    applications: Mapping[str, bytes]  # application key -> decoded secret
    verify_signatures: bool
    signature_max_skew: int
    fallback_svaml: Mapping[str, dict | None]  # "ice" | "ace" | "pie" -> SVAML or None
    instance_path: Path
    calling_base_url: str
    upstream_url: str | None
    upstream_timeout_ms: int
    upstream_pool_size: int
    database_url: str
    redis_url: str | None
    redis_tls_verify: bool
    huey_sqlite_path: Path
    huey_name: str
    rules_file: Path | None  # None: the demo ruleset
    rules_allow_literal_credentials: bool
    rules_watch_seconds: float
    api_tokens: tuple[str, ...] = field(repr=False)
    recording_min_duration_ms: int = 1000
    recording_deadline_seconds: int = 900
    verify_deadline_seconds: int = 900
    verify_retry_seconds: float = 5.0
    max_callback_bytes: int = 65536
    copy_threads: int = 2
    secret_key: str = field(default="", repr=False)
    log_level: str = "INFO"

    def __repr__(self) -> str:  # never show secrets, even in a debugger or a traceback
        return (
            f"Settings(applications={sorted(self.applications)}, database_url=<set>, "
            f"redis_url={'<set>' if self.redis_url else None})"
        )


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


class SettingsSchema(Schema):
    application_key = fields.String(data_key="SINCH_APPLICATION_KEY")
    application_secret = fields.String(data_key="SINCH_APPLICATION_SECRET")
    applications = Applications(data_key="SINCH_APPLICATIONS")
    verify_signatures = Flag(data_key="SINCH_VERIFY_SIGNATURES")
    signature_max_skew = fields.Integer(
        data_key="SINCH_SIGNATURE_MAX_SKEW", validate=validate.Range(min=1, max=86400)
    )
    fallback_ice = JsonObject(data_key="SINCH_FALLBACK_ICE_SVAML", allow_none=True)
    fallback_ace = JsonObject(data_key="SINCH_FALLBACK_ACE_SVAML", allow_none=True)
    fallback_pie = JsonObject(data_key="SINCH_FALLBACK_PIE_SVAML", allow_none=True)
    instance_path = fields.String(data_key="INSTANCE_PATH", validate=validate.Length(min=1))
    calling_base_url = fields.String(data_key="SINCH_CALLING_BASE_URL", validate=validate.Regexp(
        r"^https?://", error="must be an http(s) URL, e.g. https://calling-euc1.api.sinch.com"))
    upstream_url = fields.String(data_key="UPSTREAM_CALLBACK_URL", validate=validate.Regexp(
        r"^(https?://.+)?$", error="must be the upstream's http(s) callback URL, or empty"))
    upstream_timeout_ms = fields.Integer(data_key="UPSTREAM_TIMEOUT_MS", validate=validate.Range(min=10, max=10000))
    upstream_pool_size = fields.Integer(data_key="UPSTREAM_POOL_SIZE", validate=validate.Range(min=1, max=1000))
    copy_threads = fields.Integer(data_key="COPY_THREADS", validate=validate.Range(min=1, max=64))
    secret_key = fields.String(data_key="SECRET_KEY")
    database_url = fields.String(data_key="DATABASE_URL", validate=validate.Length(min=1))
    redis_url = fields.String(data_key="REDIS_URL")
    redis_tls_verify = Flag(data_key="REDIS_TLS_VERIFY")
    huey_sqlite_path = fields.String(data_key="HUEY_SQLITE_PATH", validate=validate.Length(min=1))
    huey_name = fields.String(data_key="HUEY_NAME", validate=validate.Length(min=1))
    rules_file = fields.String(data_key="RULES_FILE")
    rules_allow_literal_credentials = Flag(data_key="RULES_ALLOW_LITERAL_CREDENTIALS")
    rules_watch_seconds = fields.Float(data_key="RULES_WATCH_SECONDS", validate=validate.Range(min=0, max=3600))
    api_tokens = fields.String(data_key="API_TOKENS")
    recording_min_duration_ms = fields.Integer(data_key="RECORDING_MIN_DURATION_MS",
                                               validate=validate.Range(min=0, max=3_600_000))
    recording_deadline_seconds = fields.Integer(data_key="RECORDING_DEADLINE_SECONDS",
                                                validate=validate.Range(min=0, max=7 * 86400))
    verify_deadline_seconds = fields.Integer(data_key="VERIFY_DEADLINE_SECONDS",
                                             validate=validate.Range(min=0, max=7 * 86400))
    verify_retry_seconds = fields.Float(data_key="VERIFY_RETRY_SECONDS", validate=validate.Range(min=0, max=3600))
    max_callback_bytes = fields.Integer(
        data_key="MAX_CALLBACK_BYTES", validate=validate.Range(min=1024, max=16 * 1024 * 1024)
    )
    log_level = fields.String(
        data_key="LOG_LEVEL",
        validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
    )

    @post_load
    def build(self, data: dict, **kwargs) -> Settings:
        applications = dict(data["applications"])
        key, secret = data["application_key"].strip(), data["application_secret"].strip()
        if bool(key) != bool(secret):
            raise ValidationError(
                "set both SINCH_APPLICATION_KEY and SINCH_APPLICATION_SECRET, or neither",
                "SINCH_APPLICATION_KEY",
            )
        if key:
            try:
                applications[key] = _decode_secret(secret)
            except ValidationError as error:
                raise ValidationError(error.messages, "SINCH_APPLICATION_SECRET")
        try:
            url = database_url(data["database_url"])
        except ValidationError as error:
            raise ValidationError(error.messages, "DATABASE_URL")
        return Settings(
            applications=applications,
            verify_signatures=data["verify_signatures"],
            signature_max_skew=data["signature_max_skew"],
            fallback_svaml={
                "ice": data["fallback_ice"], "ace": data["fallback_ace"], "pie": data["fallback_pie"]
            },
            instance_path=_project_path(data["instance_path"]),
            calling_base_url=data["calling_base_url"],
            upstream_url=data["upstream_url"].strip() or None,
            upstream_timeout_ms=data["upstream_timeout_ms"],
            upstream_pool_size=data["upstream_pool_size"],
            database_url=url,
            redis_url=data["redis_url"].strip() or None,
            redis_tls_verify=data["redis_tls_verify"],
            huey_sqlite_path=_project_path(data["huey_sqlite_path"]),
            huey_name=data["huey_name"],
            rules_file=_project_path(data["rules_file"]) if data["rules_file"].strip() else None,
            rules_allow_literal_credentials=data["rules_allow_literal_credentials"],
            rules_watch_seconds=data["rules_watch_seconds"],
            api_tokens=tuple(t.strip() for t in data["api_tokens"].split(",") if t.strip()),
            recording_min_duration_ms=data["recording_min_duration_ms"],
            recording_deadline_seconds=data["recording_deadline_seconds"],
            verify_deadline_seconds=data["verify_deadline_seconds"],
            verify_retry_seconds=data["verify_retry_seconds"],
            max_callback_bytes=data["max_callback_bytes"],
            copy_threads=data["copy_threads"],
            secret_key=data["secret_key"],
            log_level=data["log_level"],
        )


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


def read_defaults() -> dict[str, str]:
    with DEFAULTS_FILE.open("rb") as handle:
        return {key: str(value) for key, value in tomllib.load(handle).items()}


def load_settings(environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from the defaults file, then ``environ``, then ``overrides`` (tests)."""
    defaults = read_defaults()
    values = {key: environ.get(key, default) for key, default in defaults.items()}
    values.update({key: str(value) for key, value in (overrides or {}).items()})
    try:
        return SettingsSchema().load(values)
    except ValidationError as error:
        raise SettingsError(describe_errors(error.messages)) from None


def describe_errors(messages: Mapping[str, Any]) -> str:
    parts = []
    for name, problems in sorted(messages.items()):
        text = "; ".join(problems) if isinstance(problems, list) else str(problems)
        parts.append(f"{name}: {text}")
    return "invalid settings: " + " | ".join(parts)
