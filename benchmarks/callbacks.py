"""Benchmark: a signed ICE through the whole path vs a bare Flask endpoint, same gunicorn, same run.

    .venv/bin/python -m benchmarks.callbacks [--requests 4000] [--concurrency 8] [--rounds 3]
                                             [--database sqlite|postgresql://…]

Both apps run under ``config/gunicorn.conf.py`` with the same WEB_CONCURRENCY/WEB_THREADS; the
real one verifies the signature, parses, decides, renders and journals every request to SQLite
(WAL, a fresh file) or to the PostgreSQL database named (its tables are created there). Prints
requests/s, p50/p99 latency and server CPU per request for each, and the ratios.
Rounds alternate between the two apps; the median round of each is reported, and the median and
range of the ratios of each full round to the bare round just before it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path

from benchmarks import http_load as load
from tests.processes import gunicorn

KEY = "bench-app"
SECRET = "QmVuY2htYXJrU2VjcmV0MTIzNA=="


def prepared_requests(count: int) -> list[tuple[str, bytes, dict]]:
    from app.sinch.signing import sign

    requests_ = []
    for _ in range(count):
        payload = {
            "event": "ice", "callid": uuid.uuid4().hex, "timestamp": "2026-01-01T00:00:00Z", "version": 1,
            "cli": "+46701234567", "to": {"type": "number", "endpoint": "+46855500000"}, "domain": "pstn",
            "originationType": "PSTN", "applicationKey": KEY, "userRate": {"currencyId": "EUR", "amount": 0.01},
        }
        body = json.dumps(payload).encode()
        requests_.append(("/sinch/callback", body, sign(KEY, SECRET, method="POST", path="/sinch/callback", body=body)))
    return requests_


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    from app import create_app

    with create_app({"DATABASE_URL": url}).app_context():
        upgrade()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--threads", default="4")
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-callbacks-"))
    url = f"sqlite:///{work / 'bench.db'}" if args.database == "sqlite" else args.database
    migrate(url)
    env = {"DATABASE_URL": url, "SINCH_APPLICATION_KEY": KEY, "SINCH_APPLICATION_SECRET": SECRET,
           "HUEY_SQLITE_PATH": str(work / "huey.db"), "LOG_LEVEL": "WARNING", "GUNICORN_ACCESS_LOG": "/dev/null"}
    settings = {"WEB_CONCURRENCY": args.workers, "WEB_THREADS": args.threads}
    results: dict[str, list[load.Result]] = {"bare": [], "full": []}
    with gunicorn("benchmarks.bare_app:app", env, work / "bare.log", **settings) as (bare_url, bare), \
         gunicorn("wsgi:app", env, work / "full.log", **settings) as (full_url, full):
        for name, base, process in (("bare", bare_url, bare), ("full", full_url, full)):  # warm-up
            load.run(base, prepared_requests(300), args.concurrency, process.pid)
        for _ in range(args.rounds):
            for name, base, process in (("bare", bare_url, bare), ("full", full_url, full)):
                results[name].append(load.run(base, prepared_requests(args.requests), args.concurrency, process.pid))

    def median(name: str) -> load.Result:
        return sorted(results[name], key=lambda r: r.cpu_per_request_us)[len(results[name]) // 2]

    bare, full = median("bare"), median("full")
    print(f"{args.requests} signed ICE requests x {args.rounds} rounds, concurrency {args.concurrency}, "
          f"gunicorn {args.workers} workers x {args.threads} threads, {url.split(':')[0]} (median round shown)")
    print(f"{'':6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} {'(user':>6} {'sys)':>5} {'errors':>7}"
          f" {'PostgreSQL CPU us/req':>22}")
    for name, result in (("bare", bare), ("full", full)):
        user, system = (result.server_user / result.requests * 1e6, result.server_system / result.requests * 1e6)
        print(f"{name:6} {result.rps:9.0f} {result.percentile(50):8.2f} {result.percentile(99):8.2f} "
              f"{result.cpu_per_request_us:11.0f} {user:6.0f} {system:5.0f} {result.errors:7d}"
              f" {result.database_per_request_us:22.0f}")
    print(f"ratio full/bare: CPU per request {full.cpu_per_request_us / bare.cpu_per_request_us:.2f}x, "
          f"throughput {full.rps / bare.rps:.2f}x, p50 {full.percentile(50) / bare.percentile(50):.2f}x")
    print("all CPU us/req rounds:", {k: [round(r.cpu_per_request_us) for r in v] for k, v in results.items()})
    # Each full round against the bare round just before it: how far the ratio moves from round to
    # round within one run (on the shared 2-core machine, by ±20 %): read the median in that light.
    pairs = sorted(f.cpu_per_request_us / b.cpu_per_request_us for b, f in zip(results["bare"], results["full"]))
    print(f"paired rounds, full/bare CPU: median {pairs[len(pairs) // 2]:.2f}x, "
          f"range {pairs[0]:.2f}-{pairs[-1]:.2f}x")
    if full.errors or bare.errors:
        sys.exit("errors during the run")


if __name__ == "__main__":
    main()
