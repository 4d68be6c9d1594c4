"""Benchmark: webhook deliveries per second from one worker process, against the same POSTs sent
plainly, same receiver, same run.

    .venv/bin/python -m benchmarks.events [--events 2000] [--rounds 3] [--database sqlite|postgresql://…]

The receiver is the bare Flask app (``benchmarks/bare_app.py``) under gunicorn, on loopback: it
answers 200 at once. Each round writes ``--events`` events (one recording's worth of types) and
lets one :class:`~app.events.delivery.Dispatcher` — what a worker process runs — number them, fan
them out to one endpoint and deliver them, signed, each attempt kept. The baseline round POSTs
the same number of bodies to the same receiver from as many threads as the dispatcher gives an
endpoint (``PER_ENDPOINT``), with one ``requests`` session, nothing kept. Prints deliveries/s for
each and the ratio; the median round of each is reported.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import requests
from sqlalchemy import func, select

from benchmarks.callbacks import migrate
from tests.processes import gunicorn

SECRET = "whsec_" + base64.b64encode(b"benchmark receiver secret 32 b!!").decode()


def write_events(engine, count: int, tag: str) -> None:
    from app.events import log as event_log

    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        for i in range(count):
            event_log.append(connection, "recording.verified", {"id": f"{tag}-{i}", "status": "verified"},
                             recording_id=f"{tag}-{i}"[:32], call_id=tag, now=now)


def delivered(engine) -> int:
    from app.events.models import WebhookDelivery

    with engine.connect() as connection:
        return connection.execute(select(func.count()).where(WebhookDelivery.status == "delivered")).scalar()


def dispatcher_round(app, engine, count: int, tag: str) -> float:
    """Seconds for one dispatcher to deliver ``count`` new events."""
    from app.events.delivery import dispatcher

    write_events(engine, count, tag)
    before = delivered(engine)
    sender = dispatcher(app)
    started = time.perf_counter()
    while delivered(engine) - before < count:
        sender.tick()
        time.sleep(0.005)  # a poll, as the worker's loop polls; not a synchronisation in a test
    sender.drain()
    return time.perf_counter() - started


def plain_round(url: str, count: int, threads: int) -> float:
    session = requests.Session()
    body = b'{"id":"evt_x","type":"recording.verified","timestamp":"2026-12-04T00:00:00Z","data":{}}'
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for response in pool.map(lambda _: session.post(url, data=body, timeout=10), range(count)):
            response.raise_for_status()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args(argv)

    from app import create_app
    from app.db import db
    from app.events.delivery import PER_ENDPOINT

    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    url = f"sqlite:///{work / 'bench.db'}" if args.database == "sqlite" else args.database
    migrate(url)
    env = {"LOG_LEVEL": "WARNING", "GUNICORN_ACCESS_LOG": "/dev/null"}
    with gunicorn("benchmarks.bare_app:app", env, work / "receiver.log", WEB_CONCURRENCY="2",
                  WEB_THREADS="8") as (receiver, _):
        hook = f"{receiver}/sinch/callback"
        (work / "rules.yaml").write_text(
            f"version: 1\nallow_literal_credentials: true\nwebhooks:\n  bench: {{url: '{hook}', secret: '{SECRET}'}}\n"
            "rules:\n  - id: default\n    record: false\n    connect: dialled\n")
        app = create_app({"DATABASE_URL": url, "RULES_FILE": str(work / "rules.yaml"), "WEBHOOKS_ALLOW_HTTP": "true",
                          "WEBHOOKS_ALLOW_HOSTS": "127.0.0.1", "INSTANCE_PATH": str(work / "instance"),
                          "LOG_LEVEL": "WARNING"})
        with app.app_context():
            engine = db.engine
        dispatcher_round(app, engine, 100, "warm")
        plain_round(hook, 100, PER_ENDPOINT)
        rates: dict[str, list[float]] = {"plain POST": [], "dispatcher": []}
        for round_ in range(args.rounds):
            rates["plain POST"].append(args.events / plain_round(hook, args.events, PER_ENDPOINT))
            rates["dispatcher"].append(args.events / dispatcher_round(app, engine, args.events, f"r{round_}"))
    database = "sqlite" if args.database == "sqlite" else "postgresql"
    print(f"{args.events} events x {args.rounds} rounds, one endpoint, {PER_ENDPOINT} senders, {database} "
          "(median round shown)")
    for name, values in rates.items():
        print(f"{name:12} {statistics.median(values):8.0f} deliveries/s   rounds: {[round(v) for v in values]}")
    ratio = statistics.median(rates["dispatcher"]) / statistics.median(rates["plain POST"])
    print(f"ratio dispatcher/plain: {ratio:.2f}x")


if __name__ == "__main__":
    main()
