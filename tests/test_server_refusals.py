"""What the web server refuses, and how (issue 13), with gunicorn as the Procfile runs it (2
workers × 4 threads) and raw sockets: clients that trickle their bodies cannot starve the service,
a chunked body is counted as it arrives, and an overlong URL is refused in JSON."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from app.sinch.signing import sign
from tests import payloads
from tests.processes import eventually, gunicorn
from tests.support import APP_KEY, APP_SECRET

SLOW_SENDERS = 16


@pytest.fixture
def web(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "SINCH_APPLICATION_KEY": APP_KEY, "SINCH_APPLICATION_SECRET": APP_SECRET,
           "INSTANCE_PATH": str(tmp_path / "instance"), "REDIS_URL": "", "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"}
    with gunicorn("wsgi:app", env, tmp_path / "web.log") as (base, _):
        yield base


def head(port: int, extra: str) -> bytes:
    return (f"POST /sinch/callback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"{extra}\r\n").encode()


def answer_of(sock: socket.socket) -> bytes:
    received = b""
    sock.settimeout(30)
    try:
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and received.split(b"\r\n\r\n", 1)[1]:
                break
    except OSError:
        pass
    return received


class SlowSender(threading.Thread):
    """Sends the headers of a 2 000-byte body, then one byte every 100 ms until told to stop
    (200 s for the whole body) or the server answers."""

    def __init__(self, port: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.stop, self.sent, self.answer = port, stop, 0, b""

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.sendall(head(self.port, "Content-Length: 2000\r\n") + b"{")
            self.sent = 1
            reader = threading.Thread(target=lambda: setattr(self, "answer", answer_of(sock)), daemon=True)
            reader.start()
            while not self.stop.is_set() and not self.answer and self.sent < 2000:
                try:
                    sock.sendall(b" ")
                except OSError:  # the server closed it
                    break
                self.sent += 1
                self.stop.wait(0.1)  # the trickle's pace, not a synchronisation
            reader.join(30)


def signed_ice(base: str, call_id: str) -> requests.Response:
    body = json.dumps(payloads.ICE_PSTN | {"callid": call_id}).encode()
    headers = sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback", body=body)
    return requests.post(f"{base}/sinch/callback", data=body, headers=headers, timeout=15)


def test_sixteen_clients_trickling_bodies_do_not_keep_a_good_ice_waiting(web):
    port = int(web.rsplit(":", 1)[1])
    stop = threading.Event()
    senders = [SlowSender(port, stop) for _ in range(SLOW_SENDERS)]
    for sender in senders:
        sender.start()
    try:
        eventually(lambda: all(sender.sent >= 3 for sender in senders), "every slow sender trickling")
        started = time.monotonic()
        reply = signed_ice(web, "good-amid-slow")
        waited = time.monotonic() - started
        # Without a deadline the threads are held for the trickles' 200 s and this times out.
        assert reply.status_code == 200 and "action" in reply.json(), reply.text
        print(f"good ICE answered in {waited * 1000:.0f} ms with {SLOW_SENDERS} slow senders")
        eventually(lambda: all(sender.answer for sender in senders), "every slow sender refused", deadline=30)
    finally:
        stop.set()
        for sender in senders:
            sender.join(30)
    for sender in senders:
        status, _, rest = sender.answer.partition(b"\r\n")
        assert status.startswith(b"HTTP/1.1 408"), sender.answer[:200]
        body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] == "request_timeout" and "BODY_READ_SECONDS" in body["error"]["message"]
        assert sender.sent < 2000


def chunked(body: bytes, size: int = 4096) -> bytes:
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces) + b"0\r\n\r\n"


def test_a_chunked_body_over_the_limit_is_refused_with_413_not_cut_short(web):
    port = int(web.rsplit(":", 1)[1])
    body = json.dumps(payloads.ICE_PSTN | {"padding": "x" * 70_000}).encode()  # over MAX_CALLBACK_BYTES (65 536)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head(port, "Transfer-Encoding: chunked\r\n") + chunked(body))
        answer = answer_of(sock)
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413"), answer[:300]
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_entity_too_large"


def test_a_chunked_body_within_the_limit_is_read_whole_and_verified(web):
    port = int(web.rsplit(":", 1)[1])
    body = json.dumps(payloads.ICE_PSTN | {"callid": "chunked-1"}).encode()
    signed = sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback", body=body)
    extra = "".join(f"{name}: {value}\r\n" for name, value in signed.items() if name.lower() != "content-type")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head(port, extra + "Transfer-Encoding: chunked\r\n") + chunked(body, 100))
        answer = answer_of(sock)
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 200"), answer[:300]
    assert "action" in json.loads(rest.split(b"\r\n\r\n", 1)[1])


def test_a_url_too_long_is_refused_in_json_by_the_app_and_past_gunicorn_s_own_limit_by_gunicorn(web):
    answer = requests.get(f"{web}/api/v1/recordings", params={"call_id": "x" * 5000}, timeout=15)
    assert answer.status_code == 414
    assert answer.json()["error"]["code"] == "request_uri_too_long"
    assert "4094 bytes" in answer.json()["error"]["message"]
    beyond = requests.get(f"{web}/api/v1/recordings", params={"call_id": "x" * 9000}, timeout=15)
    assert beyond.status_code == 414                           # gunicorn's own refusal, in the same shape
    assert beyond.headers["Content-Type"] == "application/json"
    assert beyond.json()["error"]["code"] == "request_uri_too_long"
    headers = requests.get(f"{web}/healthz", headers={f"x-h{n}": "v" for n in range(200)}, timeout=15)
    assert headers.status_code == 431 and headers.json()["error"]["code"] == "request_header_fields_too_large"

