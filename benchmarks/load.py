"""Benchmark: simulated calls against a production-shaped deployment, then a soak.

    .venv/bin/python -m benchmarks.load [--seconds 60] [--concurrency 8] [--soak 600]

gunicorn (2 workers × 4 threads) + the huey worker + PostgreSQL + Redis + SeaweedFS, all on this
machine; the simulator plays N concurrent callers for a fixed time, each call recorded (2 s of
MP3) and uploaded with the SVAML's write-only credentials. Reports calls/s, ICE reply p50/p99,
errors (must be 0) and recordings verified / expected. With ``--soak`` the same load keeps
running and the RSS of the web and worker processes is sampled every 10 s (it must stay flat).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks.http_load import process_tree

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def rss_mb(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (FileNotFoundError, StopIteration):
            pass
    return total / 1024


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--soak", type=float, default=0, help="seconds of soak after the measured run")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    args = parser.parse_args(argv)

    from app.simulator.cli import format_summary, summarize
    from app.simulator.platform import CallSpec, Endpoints, Platform
    from benchmarks.callbacks import KEY, SECRET, migrate
    from tests.processes import gunicorn, huey_worker
    from tests.storage_servers import start_seaweedfs
    from tests.support import Databases, Store

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    databases = Databases(args.postgres)
    database = databases.new(f"load_{uuid.uuid4().hex[:6]}")
    s3 = start_seaweedfs()
    try:
        store = Store("s3", s3, "load")
        (work / "rules.yaml").write_text(store.ruleset())
        migrate(database)
        env = {"DATABASE_URL": database, "REDIS_URL": args.redis, "HUEY_NAME": f"bench-{uuid.uuid4().hex[:6]}",
               "SINCH_APPLICATION_KEY": KEY, "SINCH_APPLICATION_SECRET": SECRET, "RULES_FILE": str(work / "rules.yaml"),
               "INSTANCE_PATH": str(work / "instance"), "LOG_LEVEL": "WARNING", "GUNICORN_ACCESS_LOG": "/dev/null",
               "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"}
        with gunicorn("wsgi:app", env, work / "web.log") as (base, web), \
                huey_worker(env, work / "worker.log", workers=4) as worker:
            platform = Platform(f"{base}/sinch/callback", KEY, SECRET, endpoints=Endpoints(s3=s3.endpoint))
            reports, stop = [], threading.Event()

            def caller():
                while not stop.is_set():
                    reports.append(platform.call(CallSpec(duration=2)))

            def run(seconds: float, sample: bool) -> list[tuple[float, float, float]]:
                samples, started = [], time.monotonic()
                threads = [threading.Thread(target=caller) for _ in range(args.concurrency)]
                for thread in threads:
                    thread.start()
                while (elapsed := time.monotonic() - started) < seconds:
                    if sample:
                        samples.append((elapsed, rss_mb(web.pid), rss_mb(worker.pid)))
                    stop.wait(10 if sample else seconds)
                stop.set()
                for thread in threads:
                    thread.join()
                stop.clear()
                return samples

            started = time.monotonic()
            run(args.seconds, sample=False)
            elapsed = time.monotonic() - started
            measured = list(reports)
            summary = summarize(measured, elapsed)
            summary["recordings_verified"] = wait_verified(database, measured)
            print(f"{args.concurrency} concurrent callers for {args.seconds:.0f} s, gunicorn 2×4 + worker (4 threads), "
                  "PostgreSQL + Redis + SeaweedFS")
            print(format_summary(summary))
            if args.soak:
                samples = run(args.soak, sample=True)
                print(f"soak: {args.soak:.0f} s, {len(reports) - len(measured)} more calls, "
                      f"errors {sum(not r.ok for r in reports[len(measured):])}; RSS every 10 s (web / worker MB):")
                print("  " + "  ".join(f"{int(t):>3}s {w:.0f}/{k:.0f}" for t, w, k in samples))
                webs, workers = [w for _, w, _ in samples], [k for _, _, k in samples]
                half = len(samples) // 2
                print(f"  web: first half mean {statistics.mean(webs[:half]):.1f} MB, second half "
                      f"{statistics.mean(webs[half:]):.1f} MB; worker: {statistics.mean(workers[:half]):.1f} → "
                      f"{statistics.mean(workers[half:]):.1f} MB")
    finally:
        s3.close()
        databases.drop_all()


def wait_verified(database: str, reports, wait: float = 120) -> int:
    """Poll the catalogue until every uploaded recording is final; return how many are verified."""
    from sqlalchemy import create_engine, func, select

    from app.recordings.models import Recording
    from app.settings import database_url

    uris = [u.uri for r in reports for u in r.uploads]
    engine = create_engine(database_url(database))
    deadline = time.monotonic() + wait
    try:
        while True:
            with engine.connect() as connection:
                counts = dict(connection.execute(
                    select(Recording.status, func.count()).where(Recording.destination_url.in_(uris))
                    .group_by(Recording.status)).all())
            if counts.get("verified", 0) + counts.get("failed", 0) >= len(uris) or time.monotonic() > deadline:
                return counts.get("verified", 0)
            time.sleep(0.5)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
