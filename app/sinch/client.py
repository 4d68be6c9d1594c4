"""The Manage Call API (reference §4.3): PATCH a live call with SVAML, signed like a callback.

``PATCH {callResourceUrl}`` (or ``{SINCH_CALLING_BASE_URL}/calling/v1/calls/id/{callId}``) with
``{"instructions": [...], "action": {"name": "continue"}}``, signed with the application's key
and secret over the request path. Sinch's errors (40003, 40400, 50000, …) become
:class:`SinchApiError` with a message a user can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from app.sinch.signing import sign

_MEANING = {
    40001: "illegal parameters", 40002: "a parameter is missing", 40003: "invalid request",
    40108: "invalid credentials", 40301: "invalid authorization scheme", 40400: "call not found",
    50000: "internal error at Sinch",
}


@dataclass
class SinchApiError(Exception):
    status: int | None
    code: int | None
    message: str

    def __str__(self) -> str:
        return self.message


class ManageCallClient:
    def __init__(self, base_url: str, timeout: float = 5.0):
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.session = requests.Session()

    def url_for(self, call_id: str, resource_url: str | None) -> str:
        return resource_url or f"{self.base_url}/calling/v1/calls/id/{call_id}"

    def update(self, call_id: str, resource_url: str | None, svaml: dict, key: str, secret: bytes) -> None:
        url = self.url_for(call_id, resource_url)
        body = json.dumps(svaml, separators=(",", ":")).encode()
        headers = sign(key, secret, method="PATCH", path=urlsplit(url).path, body=body)
        try:
            response = self.session.patch(url, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as error:
            raise SinchApiError(None, None, f"Sinch could not be reached ({type(error).__name__}); try again") from None
        if 200 <= response.status_code < 300:
            return
        try:
            detail = response.json()
        except ValueError:
            detail = {}
        code = detail.get("errorCode")
        try:
            code = int(code) if code is not None else None
        except ValueError:
            code = None
        meaning = _MEANING.get(code, detail.get("message") or f"HTTP {response.status_code}")
        raise SinchApiError(response.status_code, code,
                            f"Sinch refused: {meaning}" + (f" ({code})" if code else "")
                            + (f" — {detail['message']}" if detail.get("message") and code in _MEANING else ""))
