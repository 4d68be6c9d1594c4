"""Request bodies arrive whole, soon, and not too large — or the request is refused.

gunicorn's threaded worker gives a request a thread once its first bytes are in and reads the
rest on that thread: a client that sends its body a byte at a time keeps the thread for as long as
it likes, and a handful of such clients leave no thread for Sinch. So a body must arrive within
``BODY_READ_SECONDS`` of the request reaching the app (408 otherwise, and the connection is
closed), and a body without ``Content-Length`` (chunked) is counted as it comes and refused with
413 past ``MAX_CALLBACK_BYTES`` instead of being cut short. The body is read here once; the app
gets it whole.

A blocked read cannot be given a deadline from outside the server's reader (it loops over as
many socket reads as a trickle needs), so one watcher thread per process ends overdue reads by
shutting the socket's reading side: the read returns at once and the request is refused.
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field

CHUNK = 64 * 1024
NO_BODY = ("GET", "HEAD", "OPTIONS", "DELETE")


@dataclass(order=True)
class _Ticket:
    deadline: float
    number: int
    sock: socket.socket = field(compare=False)
    done: bool = field(default=False, compare=False)
    fired: bool = field(default=False, compare=False)


class _Watcher:
    """One daemon thread that shuts the reading side of sockets whose body is overdue.

    The thread is woken only for a deadline earlier than the moment it will wake anyway
    (``_wake_at``): with nothing to watch it looks again every ``IDLE`` seconds, so a body deadline
    at least that long (``BODY_READ_SECONDS`` is 1 by default) never has to wake it, and a request
    costs no thread wake-up.
    """

    IDLE = 1.0

    def __init__(self):
        self._heap: list[_Ticket] = []
        self._numbers = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._wake_at = float("inf")  # when the thread will look again by itself (never, until it runs)

    def watch(self, sock: socket.socket, seconds: float) -> _Ticket:
        ticket = _Ticket(time.monotonic() + seconds, next(self._numbers), sock)
        with self._condition:
            if self._thread is None or not self._thread.is_alive():  # started lazily: after a fork too
                self._thread = threading.Thread(target=self._run, name="body-deadlines", daemon=True)
                self._wake_at = float("inf")
                self._thread.start()
            heapq.heappush(self._heap, ticket)
            if ticket.deadline < self._wake_at:
                self._condition.notify()
        return ticket

    def release(self, ticket: _Ticket) -> bool:
        """The read is over; True when it was cut for being late."""
        with self._condition:
            ticket.done = True
            return ticket.fired

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._heap and self._heap[0].done:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                if not self._heap:
                    self._wake_at = now + self.IDLE
                    self._condition.wait(self.IDLE)
                    continue
                late = self._heap[0].deadline - now
                if late > 0:
                    self._wake_at = self._heap[0].deadline
                    self._condition.wait(late)
                    continue
                ticket = heapq.heappop(self._heap)
                ticket.fired = True
                try:
                    ticket.sock.shutdown(socket.SHUT_RD)
                except OSError:  # already gone
                    pass


_watcher = _Watcher()


def refusal(status: str, code: str, message: str, *, close: bool = False):
    """A WSGI response in the service's error shape (this runs before Flask does)."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if close:
        headers.append(("Connection", "close"))
    return body, headers, status


class BodyDeadline:
    """WSGI middleware: read the body up front within ``seconds`` (0: no deadline), at most
    ``limit`` bytes."""

    def __init__(self, app, *, seconds: float, limit: int):
        self.app, self.seconds, self.limit = app, seconds, limit

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        declared = _declared(environ)
        if chunked and not environ.get("wsgi.input_terminated"):  # a server that cannot tell its end
            return self.app(environ, start_response)
        if not chunked and (environ.get("REQUEST_METHOD") in NO_BODY or not declared):
            return self.app(environ, start_response)
        if declared > self.limit:
            return self._refuse(start_response, "413 Request Entity Too Large", "request_entity_too_large",
                                f"the body is larger than {self.limit} bytes (MAX_CALLBACK_BYTES)", close=True)
        # A declared length is read exactly (some servers' input never ends on a kept-alive
        # connection); a chunked body up to its end, as the server marks it.
        wanted = self.limit + 1 if chunked else declared
        sock = environ.get("gunicorn.socket")
        ticket = _watcher.watch(sock, self.seconds) if sock is not None and self.seconds > 0 else None
        parts, size, broken = [], 0, False
        try:
            stream = environ["wsgi.input"]
            while size < wanted and (part := stream.read(min(CHUNK, wanted - size))):
                parts.append(part)
                size += len(part)
        except (OSError, ValueError, EOFError):  # the reading side shut, or a body the server cannot parse
            broken = True
        finally:
            late = ticket is not None and _watcher.release(ticket)
        if late:
            return self._refuse(start_response, "408 Request Timeout", "request_timeout",
                                f"the body did not arrive within {self.seconds:g} s (BODY_READ_SECONDS)", close=True)
        if broken:
            return self._refuse(start_response, "400 Bad Request", "bad_request",
                                "the body could not be read to its end", close=True)
        if size > self.limit:
            return self._refuse(start_response, "413 Request Entity Too Large", "request_entity_too_large",
                                f"the body is larger than {self.limit} bytes (MAX_CALLBACK_BYTES)", close=True)
        body = b"".join(parts)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = True
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(start_response, status: str, code: str, message: str, *, close: bool = False):
        body, headers, status = refusal(status, code, message, close=close)
        start_response(status, headers)
        return [body]


def _declared(environ) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
