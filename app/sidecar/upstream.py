"""Forwarding a callback to the team's own backend: same body, re-signed for its path.

The upstream verifies Sinch's signature itself, so each request is signed again with the same
application key and secret, over the upstream URL's path (Sinch signs the path). A pooled,
kept-alive session keeps the hop cheap, and ``UPSTREAM_TIMEOUT_MS`` is a deadline over the whole
exchange — connecting, the headers and every byte of the body: the exchange runs on a thread of
the client's own, and past the deadline the call is answered without it (an upstream that sends
its headers at once and then trickles its body is not waited for; its late reply is dropped).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from app.sinch.signing import sign
from app.sinch.svaml import SvamlError, passable

OK, TIMEOUT, UNREACHABLE, HTTP_ERROR, INVALID = "ok", "timeout", "unreachable", "http_error", "invalid_svaml"


@dataclass(frozen=True)
class UpstreamReply:
    url: str
    outcome: str
    millis: float
    status: int | None = None
    svaml: dict | None = None       # the upstream's reply as sent, checked as Sinch checks it (outcome ok)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == OK


class UpstreamClient:
    def __init__(self, timeout_ms: int, pool_size: int):
        self.timeout = timeout_ms / 1000.0
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.exchanges = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="upstream-exchange")

    def forward(self, url: str, body: bytes, content_type: str | None, key: str | None, secret: bytes | None,
                kind: str, *, expect_svaml: bool) -> UpstreamReply:
        """The upstream's answer, or TIMEOUT once the deadline has passed, whatever it is doing."""
        started = time.perf_counter()
        exchange = self.exchanges.submit(self._exchange, url, body, content_type, key, secret, kind, expect_svaml)
        try:
            return exchange.result(timeout=self.timeout)
        except FutureTimeout:
            exchange.cancel()  # not started yet (every exchange thread busy): never started
            return UpstreamReply(url, TIMEOUT, _ms(started),
                                 problem=f"no whole answer within {self.timeout * 1000:.0f} ms")

    def _exchange(self, url: str, body: bytes, content_type: str | None, key: str | None, secret: bytes | None,
                  kind: str, expect_svaml: bool) -> UpstreamReply:
        headers = {"Content-Type": content_type or "application/json"}
        if key and secret is not None:
            headers.update(sign(key, secret, method="POST", path=urlsplit(url).path or "/", body=body,
                                content_type=headers["Content-Type"]))
        started = time.perf_counter()
        try:
            response = self.session.post(url, data=body, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            return UpstreamReply(url, TIMEOUT, _ms(started), problem=f"no answer within {self.timeout * 1000:.0f} ms")
        except requests.RequestException as error:
            return UpstreamReply(url, UNREACHABLE, _ms(started), problem=type(error).__name__)
        millis = _ms(started)
        if response.status_code != 200:
            return UpstreamReply(url, HTTP_ERROR, millis, response.status_code,
                                 problem=f"answered HTTP {response.status_code}")
        if not expect_svaml:
            return UpstreamReply(url, OK, millis, 200)
        try:
            doc = response.json()
            return UpstreamReply(url, OK, millis, 200, passable(doc, kind))
        except (ValueError, SvamlError) as error:
            detail = str(error) if isinstance(error, SvamlError) else "the reply is not JSON"
            return UpstreamReply(url, INVALID, millis, 200, problem=f"invalid SVAML for {kind}: {detail}"[:500])


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
