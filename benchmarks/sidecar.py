"""Benchmark: the latency the sidecar hop adds over calling the upstream directly, same run.

    .venv/bin/python -m benchmarks.sidecar [--requests 2000] [--concurrency 1]

The test suite's upstream (a Flask backend that checks its own signatures) runs under gunicorn;
sinch-recorder runs under the same gunicorn settings in sidecar mode in front of it (forward,
re-sign, validate, merge the recording, journal). The same ICE is sent straight to the upstream
and through the sidecar; p50/p99 of both and the difference are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import uuid
from pathlib import Path

from benchmarks import http_load as load
from benchmarks.callbacks import KEY, SECRET, migrate
from tests.processes import gunicorn
from tests.sidecar.upstream_app import PATH, RULES


def requests_for(path: str, count: int) -> list:
    from app.sinch.signing import sign

    out = []
    for _ in range(count):
        body = json.dumps({"event": "ice", "callid": uuid.uuid4().hex, "cli": "+46701111111", "domain": "pstn",
                           "to": {"type": "number", "endpoint": "+46811111111"}, "version": 1}).encode()
        out.append((path, body, sign(KEY, SECRET, method="POST", path=path, body=body)))
    return out


def percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    (work / "rules.yaml").write_text(RULES)
    url = f"sqlite:///{work / 'bench.db'}"
    migrate(url)
    common = {"WEB_CONCURRENCY": "2", "WEB_THREADS": "4", "GUNICORN_ACCESS_LOG": "/dev/null", "LOG_LEVEL": "WARNING"}
    upstream_app = f"tests.sidecar.upstream_app:create_upstream('{KEY}', '{SECRET}')"
    with gunicorn(upstream_app, {}, work / "upstream.log", **common) as (upstream, upstream_process):
        env = {"DATABASE_URL": url, "SINCH_APPLICATION_KEY": KEY, "SINCH_APPLICATION_SECRET": SECRET,
               "RULES_FILE": str(work / "rules.yaml"), "INSTANCE_PATH": str(work / "instance"),
               "HUEY_SQLITE_PATH": str(work / "huey.db"), "UPSTREAM_CALLBACK_URL": upstream + PATH}
        with gunicorn("wsgi:app", env, work / "sidecar.log", **common) as (sidecar, sidecar_process):
            load.run(upstream, requests_for(PATH, 200), args.concurrency, upstream_process.pid)  # warm-up
            load.run(sidecar, requests_for("/sinch/callback", 200), args.concurrency, sidecar_process.pid)
            direct = load.run(upstream, requests_for(PATH, args.requests), args.concurrency, upstream_process.pid)
            hop = load.run(sidecar, requests_for("/sinch/callback", args.requests), args.concurrency,
                           sidecar_process.pid)
    (d50, d99), (s50, s99) = percentiles(direct.latencies), percentiles(hop.latencies)
    print(f"{args.requests} ICE, concurrency {args.concurrency}, gunicorn 2 workers x 4 threads each side")
    print(f"direct to the upstream : p50 {d50:6.2f} ms  p99 {d99:6.2f} ms  errors {direct.errors}")
    print(f"through the sidecar    : p50 {s50:6.2f} ms  p99 {s99:6.2f} ms  errors {hop.errors}")
    print(f"added by the sidecar   : p50 {s50 - d50:6.2f} ms  p99 {s99 - d99:6.2f} ms")


if __name__ == "__main__":
    main()
