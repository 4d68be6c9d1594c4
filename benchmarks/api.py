"""Benchmark: listing over 1 000 000 catalogue rows (keyset vs offset); a 500 MB cross-cloud copy.

    .venv/bin/python -m benchmarks.api [--only list|copy] [--rows 1000000] [--postgres postgresql://…]
                                       [--megabytes 500] [--rounds 2]

Fills a fresh database with catalogue rows (COPY), then, in the same run, fetches 50-row pages
at growing depths both ways: keyset (``WHERE (requested_at, id) < cursor``, what the API does —
also timed through ``GET /api/v1/recordings`` end to end) and OFFSET (what the API avoids).
Prints p50/p99 per depth.

Then the copy half (``benchmarks/cross_cloud_copy.py``): a copy job's throughput and peak RSS
against a plain client download + upload of the same object, in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
STATUSES = ("verified", "verified", "verified", "failed", "available", "requested")


def fill(url: str, rows: int) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as connection, connection.cursor() as cursor:
        with cursor.copy("COPY recordings (id, call_id, segment, status, rule_id, destination_url, format, "
                         "requested_at, verify_attempts, legal_hold) FROM STDIN") as copy:
            for i in range(rows):
                identifier = uuid.uuid4().hex
                copy.write_row((identifier, f"call-{i // 2}", i % 2 + 1, STATUSES[i % len(STATUSES)], f"r{i % 20}",
                                f"s3://bench/{identifier}.mp3", "mp3", start + timedelta(seconds=i), 0, False))
        cursor.execute("ANALYZE recordings")


def timed(function, repeats: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--only", choices=("list", "copy"))
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if args.only != "copy":
        list_benchmark(args)
    if args.only != "list":
        from benchmarks.cross_cloud_copy import run_copy_benchmark

        run_copy_benchmark(args.megabytes, args.rounds)


def list_benchmark(args) -> None:
    from sqlalchemy import create_engine, select, tuple_

    from app import create_app
    from app.api.schemas import Cursor
    from app.recordings.models import Recording
    from app.settings import database_url
    from benchmarks.callbacks import migrate
    from tests.support import Databases

    databases = Databases(args.postgres)
    url = databases.new(f"api_{uuid.uuid4().hex[:6]}")
    try:
        migrate(url)
        started = time.perf_counter()
        fill(url, args.rows)
        print(f"{args.rows} rows loaded in {time.perf_counter() - started:.1f} s")
        engine = create_engine(database_url(url))
        order = (Recording.requested_at.desc(), Recording.id.desc())
        with engine.connect() as connection:
            boundaries = {}
            for depth in (0, 10_000, 100_000, 500_000, args.rows - 100):
                if depth < args.rows:
                    row = connection.execute(select(Recording.requested_at, Recording.id).order_by(*order)
                                             .offset(max(depth - 1, 0)).limit(1)).first()
                    boundaries[depth] = (row.requested_at, row.id)
            app = create_app({"DATABASE_URL": url, "API_TOKENS": "bench"})
            client = app.test_client()
            print(f"{'depth':>9}  {'keyset p50/p99 ms':>18}  {'offset p50/p99 ms':>18}  {'API keyset p50/p99 ms':>22}")
            for depth, (moment, identifier) in boundaries.items():
                def keyset():
                    query = select(Recording).order_by(*order).limit(50)
                    if depth:
                        query = query.where(tuple_(Recording.requested_at, Recording.id) < tuple_(moment, identifier))
                    connection.execute(query).all()

                def offset():
                    connection.execute(select(Recording).order_by(*order).offset(depth).limit(50)).all()

                cursor = Cursor()._serialize((moment, identifier), None, None) if depth else None

                def api():
                    response = client.get("/api/v1/recordings", query_string={"limit": 50, **({"cursor": cursor} if cursor else {})},
                                          headers={"Authorization": "Bearer bench"})
                    assert response.status_code == 200 and len(response.json["data"]) == 50

                k, o, a = timed(keyset, args.repeats), timed(offset, max(5, args.repeats // 3)), timed(api, args.repeats)
                print(f"{depth:>9}  {k[0]:8.2f} / {k[1]:7.2f}  {o[0]:8.2f} / {o[1]:7.2f}  {a[0]:10.2f} / {a[1]:9.2f}")
        engine.dispose()
        from app.db import db

        with app.app_context():
            db.engine.dispose()
    finally:
        databases.drop_all()


if __name__ == "__main__":
    main()
