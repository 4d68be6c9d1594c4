"""Benchmark: where the CPU of one signed ICE goes, stage by stage, in one process (issue 15).

    .venv/bin/python -m benchmarks.stages [--requests 3000] [--database sqlite|postgresql://…]

Each stage is timed on its own, over the same prepared ICEs, with ``time.process_time`` (CPU, not
wall clock): the signature check, parsing the callback, the rules decision, rendering the reply
(its SVAML check; both checks by the loaders compiled from the marshmallow schemas,
``app.sinch.compiled``), the whole handler (``handle()``: all of these, plus the journal and
catalogue transaction and the metrics), and the whole request through the WSGI layers (proxy fix,
body deadline, the callback route's app context, request id, logging), called with an environ
built beforehand (the test client's own work would otherwise count). The
journal share is the handler minus its parts; the WSGI share is the request minus the handler. A
bare Flask app answering a constant, called the same way, is the baseline, and every
figure is also given as a multiple of it. In-process figures leave out gunicorn and the kernel's
socket work (``benchmarks/callbacks.py`` measures those, server-side, against the same baseline).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, jsonify
from werkzeug.test import EnvironBuilder

KEY = "bench-app"
SECRET = "QmVuY2htYXJrU2VjcmV0MTIzNA=="


def ices(count: int) -> list[tuple[bytes, dict]]:
    from app.sinch.signing import sign

    prepared = []
    for _ in range(count):
        body = json.dumps({
            "event": "ice", "callid": uuid.uuid4().hex, "timestamp": "2026-01-01T00:00:00Z", "version": 1,
            "cli": "+46701234567", "to": {"type": "number", "endpoint": "+46855500000"}, "domain": "pstn",
            "originationType": "PSTN", "applicationKey": KEY, "userRate": {"currencyId": "EUR", "amount": 0.01},
        }).encode()
        prepared.append((body, sign(KEY, SECRET, method="POST", path="/sinch/callback", body=body)))
    return prepared


def cpu_us(work, items) -> float:
    """CPU microseconds per item of ``work(item)`` (this process, all threads)."""
    started = time.process_time()
    for item in items:
        work(item)
    return (time.process_time() - started) * 1e6 / len(items)


def measure(database_url: str, count: int) -> dict[str, float]:
    from flask_migrate import upgrade

    from app import create_app
    from app.callbacks.handler import Incoming, handle
    from app.rules.decide import decide
    from app.sinch import signing
    from app.sinch.events import parse_callback
    from app.sinch.svaml import render

    instance = tempfile.mkdtemp(prefix="bench-stages-")
    app = create_app({"DATABASE_URL": database_url, "INSTANCE_PATH": instance, "SINCH_APPLICATION_KEY": KEY,
                      "SINCH_APPLICATION_SECRET": SECRET, "REDIS_URL": "", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        upgrade()
    runtime, settings = app.extensions["sinch_recorder"], app.extensions["settings"]
    ruleset = app.extensions["rules"].current
    now = datetime.now(timezone.utc)
    warm, timed = ices(200), ices(count)
    parsed = [parse_callback(body) for body, _ in timed]
    decided = [decide(event, ruleset, now) for event in parsed]

    def verify(item):
        body, headers = item
        signing.verify(authorization=headers["Authorization"], timestamp=headers["x-timestamp"],
                       content_type=headers["Content-Type"], method="POST", path="/sinch/callback", body=body,
                       applications=settings.applications, max_skew=settings.signature_max_skew,
                       now=datetime.now(timezone.utc))

    def handler(item):
        body, headers = item
        handle(Incoming(body=body, path="/sinch/callback", method="POST", content_type=headers["Content-Type"],
                        authorization=headers["Authorization"], timestamp=headers["x-timestamp"]), runtime)

    def environ(item) -> dict:
        body, headers = item
        return EnvironBuilder(path="/sinch/callback", method="POST", data=body, headers=headers).get_environ()

    def call(wsgi_app):
        """One request straight into a WSGI app, from an environ built beforehand (a server's share
        of the work is not ours to count)."""
        def request(prepared: dict) -> None:
            response = wsgi_app(prepared, lambda status, headers, exc_info=None: None)
            b"".join(response)
            getattr(response, "close", lambda: None)()
        return request

    bare = Flask("bare")
    bare.add_url_rule("/sinch/callback", "constant", lambda: jsonify(action={"name": "hangup"}), methods=["POST"])
    request, bare_request = call(app), call(bare)
    for item in warm:  # imports, pools, caches
        request(environ(item))
        bare_request(environ(item))
    results = {
        "bare Flask request (baseline)": cpu_us(bare_request, [environ(item) for item in timed]),
        "signature": cpu_us(verify, timed),
        "parse (compiled loader)": cpu_us(lambda item: parse_callback(item[0]), timed),
        "decide (rules)": cpu_us(lambda event: decide(event, ruleset, now), parsed),
        "render (SVAML check)": cpu_us(lambda decision: render(decision.svaml, "ice"), decided),
    }
    with app.app_context():
        results["handler (all of the above + journal + metrics)"] = cpu_us(handler, ices(count))
    results["request (handler + WSGI layers)"] = cpu_us(request, [environ(item) for item in ices(count)])
    parts = sum(results[name] for name in ("signature", "parse (compiled loader)", "decide (rules)", "render (SVAML check)"))
    results["→ journal + catalogue + metrics (handler − parts)"] = results[
        "handler (all of the above + journal + metrics)"] - parts
    results["→ WSGI layers + logging (request − handler)"] = results[
        "request (handler + WSGI layers)"] - results["handler (all of the above + journal + metrics)"]
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--database", default="sqlite",
                        help="sqlite (a fresh file, WAL) or a PostgreSQL URL (its tables are created there)")
    args = parser.parse_args(argv)
    url = args.database
    if url == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-stages-db-')) / 'bench.db'}"
    results = measure(url, args.requests)
    baseline = results["bare Flask request (baseline)"]
    print(f"{'stage':52} {'CPU µs/ICE':>11} {'× bare':>7}")
    for name, micros in results.items():
        print(f"{name:52} {micros:11.0f} {micros / baseline:7.2f}")


if __name__ == "__main__":
    main()
