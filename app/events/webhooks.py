"""Webhooks as the Standard Webhooks specification has them (standardwebhooks.com), and the rules
of the road for sending them out.

* :func:`signature`: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` under the
  endpoint's key (its ``whsec_<base64>`` secret decoded by the ruleset); :func:`headers` gives ``webhook-id``,
  ``webhook-timestamp`` and ``webhook-signature``. Receivers check them with the spec's
  libraries (the tests do, with the ``standardwebhooks`` package).
* :func:`vet`: where a webhook may go. ``https`` only unless ``WEBHOOKS_ALLOW_HTTP``; every
  address the host resolves to must be public — not loopback, private, link-local, multicast,
  reserved or a cloud metadata address — unless the host is in ``WEBHOOKS_ALLOW_HOSTS``.
* :func:`send`: one POST; no redirect followed (a 3xx is a failed attempt), at most 64 KB of the
  answer read, the whole exchange within the timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from app.events.types import matching

MAX_ANSWER = 64 * 1024
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
            ipaddress.ip_address("100.100.100.200")}  # AWS/GCP/Azure, AWS IPv6, Alibaba


class Refused(Exception):
    """The endpoint may not be sent to (its URL or its address); the message says why."""


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, message_id, timestamp, body),
            "Content-Type": "application/json", "User-Agent": "sinch-recorder-webhooks"}


def body_of(event: dict) -> bytes:
    """The bytes sent: the event's JSON, compact, keys in a fixed order."""
    return json.dumps(event, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def wants(patterns: tuple[str, ...], event_type: str) -> bool:
    """Does an endpoint subscribed to ``patterns`` (globs; empty: all) take this type?"""
    return not patterns or event_type in matching(patterns)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None    # None: no answer
    millis: int
    error: str | None          # None: delivered (a 2xx)

    @property
    def delivered(self) -> bool:
        return self.error is None


def vet(url: str, *, allow_http: bool, allow_hosts: frozenset[str]) -> None:
    """Raise :class:`Refused` unless ``url`` may be sent to now (its host resolved and checked)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Refused(f"{url!r} is not an http(s) URL")
    if parts.scheme == "http" and not allow_http:
        raise Refused("webhooks go over https only (WEBHOOKS_ALLOW_HTTP=true allows http, for development)")
    host = parts.hostname.lower()
    if host in allow_hosts:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise Refused(f"cannot resolve {host}: {error.strerror or error}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        why = _not_public(address)
        if why:
            raise Refused(f"{host} resolves to {address}, {why}: not sent (list the host in WEBHOOKS_ALLOW_HOSTS "
                          "to allow it)")


def _not_public(address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    for test, name in ((address.is_loopback, "a loopback address"), (address.is_link_local, "a link-local address"),
                       (address.is_private, "a private address"), (address.is_multicast, "a multicast address"),
                       (address.is_reserved, "a reserved address"), (address.is_unspecified, "unspecified")):
        if test:
            return name
    return None


def send(session: requests.Session, url: str, body: bytes, sent_headers: dict, timeout: float) -> Outcome:
    """POST ``body``; the answer's status and how long it took, or what went wrong."""
    started = time.monotonic()
    millis = lambda: int((time.monotonic() - started) * 1000)  # noqa: E731
    try:
        response = session.post(url, data=body, headers=sent_headers, timeout=timeout, allow_redirects=False,
                                 stream=True)
    except requests.Timeout:
        return Outcome(None, millis(), f"no answer within {timeout:g} s")
    except requests.RequestException as error:
        return Outcome(None, millis(), f"could not connect: {type(error).__name__}")
    try:
        answer = b""
        for chunk in response.iter_content(8192):
            answer += chunk
            if len(answer) >= MAX_ANSWER or time.monotonic() - started > timeout:
                break
    except requests.RequestException as error:
        return Outcome(response.status_code, millis(), f"the answer broke off: {type(error).__name__}")
    finally:
        response.close()
    if time.monotonic() - started > timeout:
        return Outcome(response.status_code, millis(), f"the answer took over {timeout:g} s")
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, millis(), None)
    excerpt = answer[:300].decode("utf-8", "replace").strip()
    if 300 <= response.status_code < 400:
        return Outcome(response.status_code, millis(), f"HTTP {response.status_code}: redirects are not followed "
                                                        f"(to {response.headers.get('Location', '?')[:200]})")
    return Outcome(response.status_code, millis(), f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else ""))
