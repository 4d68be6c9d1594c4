"""Sinch "application signed request" signing and verification (reference §5).

One recipe serves both directions: :func:`verify` checks the callbacks Sinch sends us, and
:func:`sign` signs what we send as the platform (the simulator) or to the platform (Manage Call).

StringToSign is five lines joined by ``\\n``: the HTTP verb, base64 MD5 of the raw body (empty
for no body), the Content-Type exactly as sent, ``x-timestamp:<value>`` and the request path.
The signature is base64 HMAC-SHA256 of it, keyed with the base64-decoded application secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

SCHEME = "application"

# Reasons a request is refused; each is logged and counted, never with the secret.
MISSING = "missing_authorization"
MALFORMED = "malformed_authorization"
UNSUPPORTED_SCHEME = "unsupported_scheme"
UNKNOWN_KEY = "unknown_key"
MISSING_TIMESTAMP = "missing_timestamp"
BAD_TIMESTAMP = "bad_timestamp"
STALE = "stale_timestamp"
BAD_SIGNATURE = "bad_signature"
OK = "ok"
UNCHECKED = "unchecked"  # verification switched off by SINCH_VERIFY_SIGNATURES=false

REASON_TEXT = {
    MISSING: "the Authorization header is missing",
    MALFORMED: "the Authorization header is not 'Application <key>:<signature>'",
    UNSUPPORTED_SCHEME: "only the 'Application' signature scheme is accepted",
    UNKNOWN_KEY: "the application key is not configured here",
    MISSING_TIMESTAMP: "the x-timestamp header is missing",
    BAD_TIMESTAMP: "the x-timestamp header is not an ISO-8601 UTC time",
    STALE: "the x-timestamp is outside the allowed window (replayed or clock skew)",
    BAD_SIGNATURE: "the signature does not match the request",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: str
    application_key: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason in (OK, UNCHECKED)

    @property
    def message(self) -> str:
        return REASON_TEXT.get(self.reason, self.reason)


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode() if body else ""


def string_to_sign(method: str, body: bytes, content_type: str, timestamp: str, path: str) -> str:
    return "\n".join(
        (method.upper(), content_md5(body), content_type, f"x-timestamp:{timestamp}", path)
    )


def signature(secret: bytes, text: str) -> str:
    """Base64 HMAC-SHA256 of ``text`` keyed with the *decoded* application secret."""
    return base64.b64encode(hmac.new(secret, text.encode(), hashlib.sha256).digest()).decode()


def format_timestamp(moment: datetime) -> str:
    """The x-timestamp form Sinch uses: UTC, ISO-8601 with a ``Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign(
    key: str,
    secret: bytes | str,
    *,
    method: str,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    timestamp: str | None = None,
) -> dict[str, str]:
    """Headers that make a request verifiable by Sinch's recipe.

    ``secret`` is the base64 text from the dashboard or its decoded bytes.
    """
    if isinstance(secret, str):
        secret = base64.b64decode(secret)
    timestamp = timestamp or format_timestamp(datetime.now(timezone.utc))
    text = string_to_sign(method, body, content_type, timestamp, path)
    headers = {"x-timestamp": timestamp, "Authorization": f"Application {key}:{signature(secret, text)}"}
    if body or content_type:
        headers["Content-Type"] = content_type
    return headers


def parse_timestamp(value: str) -> datetime | None:
    """``2014-06-02T15:39:31.2729234Z`` and friends; 7-digit fractions are trimmed to 6."""
    text = value.strip()
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits > 6:
            text = f"{head}.{tail[:6]}{tail[digits:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def verify(
    *,
    authorization: str | None,
    timestamp: str | None,
    content_type: str | None,
    method: str,
    path: str,
    body: bytes,
    applications: Mapping[str, bytes],
    max_skew: float,
    now: datetime,
) -> Verdict:
    """Check a signed request; the verdict names the first thing wrong with it."""
    if not authorization:
        return Verdict(MISSING)
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != SCHEME:
        return Verdict(UNSUPPORTED_SCHEME if credentials else MALFORMED)
    key, sep, given = credentials.strip().rpartition(":")
    if not sep or not key or not given:
        return Verdict(MALFORMED)
    secret = applications.get(key)
    if secret is None:
        return Verdict(UNKNOWN_KEY, key)
    if not timestamp:
        return Verdict(MISSING_TIMESTAMP, key)
    moment = parse_timestamp(timestamp)
    if moment is None:
        return Verdict(BAD_TIMESTAMP, key)
    if abs((now - moment).total_seconds()) > max_skew:
        return Verdict(STALE, key)
    expected = signature(secret, string_to_sign(method, body, content_type or "", timestamp, path))
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return Verdict(BAD_SIGNATURE, key)
    return Verdict(OK, key)
