"""Which stores a copy with explicit credentials may reach (pure).

A caller of ``POST /api/v1/recordings/<id>/copy`` names the target and its credentials; an
endpoint among those credentials (S3 ``endpoint_url``, GCS ``endpoint``/``xml_endpoint``, an
Azure ``account_url`` or connection string's ``BlobEndpoint``) would make the web process connect
wherever it says: loopback, the metadata service, a port scan. So an endpoint is taken only when
an operator allowed it: the clouds' public endpoints, the endpoints of the ruleset's own
destinations, and ``COPY_ALLOWED_ENDPOINTS``. Hosts are compared as written: ``127.1`` or
``2130706433`` are not ``localhost``, and a numeric address is never a public endpoint.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from app.storage.locations import parse_connection_string

PUBLIC_SUFFIXES = {"s3": (".amazonaws.com",), "azure": (".blob.core.windows.net",),
                   "gs": ("storage.googleapis.com",)}
ENDPOINT_KEYS = ("endpoint_url", "endpoint", "xml_endpoint", "account_url")


def endpoints_in(credentials: Mapping[str, str]) -> list[str]:
    """The endpoints a client built from ``credentials`` would connect to (none: the public cloud)."""
    found = [credentials[key] for key in ENDPOINT_KEYS if credentials.get(key)]
    if credentials.get("connection_string"):
        blob = parse_connection_string(credentials["connection_string"]).get("blobendpoint")
        if blob:
            found.append(blob)
    return found


def origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL, or None when it is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def refused_endpoint(scheme: str, credentials: Mapping[str, str], allowed: Iterable[str]) -> str | None:
    """The first endpoint in ``credentials`` no rule allows, or None when all are allowed."""
    permitted = {found for found in (origin(url) for url in allowed) if found}
    for url in endpoints_in(credentials):
        found = origin(url)
        if found is None or not (found in permitted or _public(scheme, found)):
            return url
    return None


def _public(scheme: str, found: tuple[str, str, int | None]) -> bool:
    protocol, host, port = found
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    return protocol == "https" and port == 443 and any(
        host == suffix.lstrip(".") or host.endswith(suffix) for suffix in PUBLIC_SUFFIXES.get(scheme, ()))


def ruleset_endpoints(ruleset) -> list[str]:
    """The endpoints the ruleset's destinations already use (read: and write:)."""
    return [url for destination in ruleset.destinations.values()
            for section in (destination.read, destination.write or {}) for url in endpoints_in(section)]
