"""PostgreSQL cut while four callers keep calling (issue 16's drill), with real processes:
gunicorn, the huey worker, SeaweedFS, Redis and PostgreSQL behind a proxy. Every callback is
answered, and once the database is back every recording reaches a final state: the ones Sinch
wrote are verified, none is left waiting."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

from flask_migrate import upgrade
from sqlalchemy import select

from app.callbacks.recovery import LATE_REASON
from app.db import db
from app.recordings import status
from app.recordings.models import Recording
from app.simulator.platform import CallSpec, Endpoints, Platform
from tests.processes import eventually, gunicorn, huey_worker
from tests.reliability.test_database_restart import postgres_behind_a_proxy  # noqa: F401  (a fixture)
from tests.reliability.test_spool import redis_url  # noqa: F401  (a fixture)
from tests.support import APP_KEY, APP_SECRET, Store

CALLERS = 4


def test_a_database_cut_under_four_callers_leaves_every_recording_final(make_app, s3_server, postgres_behind_a_proxy,  # noqa: F811
                                                                        redis_url, tmp_path):  # noqa: F811
    url, proxy = postgres_behind_a_proxy
    store = Store("s3", s3_server, f"cut-{uuid.uuid4().hex[:8]}")
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "HUEY_NAME": f"cut-{uuid.uuid4().hex[:8]}",
           "SINCH_APPLICATION_KEY": APP_KEY, "SINCH_APPLICATION_SECRET": APP_SECRET,
           "RULES_FILE": str(tmp_path / "rules.yaml"), "INSTANCE_PATH": str(tmp_path / "instance"),
           "VERIFY_RETRY_SECONDS": "0.5", "WEB_CONCURRENCY": "2"}
    app = make_app(**{key: value for key, value in env.items() if key != "WEB_CONCURRENCY"})
    with app.app_context():
        upgrade()

    reports, lock, stop = [], threading.Lock(), threading.Event()
    with gunicorn("wsgi:app", env, tmp_path / "web.log") as (base, _), \
            huey_worker(env, tmp_path / "worker.log", 2):
        def caller() -> None:
            platform = Platform(f"{base}/sinch/callback", APP_KEY, APP_SECRET,
                                endpoints=Endpoints(s3=s3_server.endpoint))
            while not stop.is_set():
                report = platform.call(CallSpec(call_id=uuid.uuid4().hex, duration=1, to="+46812345678"))
                with lock:
                    reports.append(report)

        threads = [threading.Thread(target=caller, daemon=True) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        try:
            eventually(lambda: len(reports) >= CALLERS, "calls with the database up", deadline=60)
            proxy.cut()                                                   # PostgreSQL goes away …
            cut_at = len(reports)
            eventually(lambda: len(reports) >= cut_at + 2 * CALLERS, "calls during the cut", deadline=60)
            proxy.restore()                                               # … and comes back
            back_at = len(reports)
            eventually(lambda: len(reports) >= back_at + CALLERS, "calls after the cut", deadline=60)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)

        statuses = Counter(exchange.status for report in reports for exchange in report.exchanges)
        assert set(statuses) == {200}, statuses                           # nothing refused, nothing dropped
        uploaded = {upload.uri for report in reports for upload in report.uploads}

        def recordings() -> list[Recording]:
            with app.app_context():
                rows = list(db.session.scalars(select(Recording)))
                db.session.close()
            return rows

        def settled():
            rows = recordings()
            return rows if rows and all(status.is_final(row.status) for row in rows) else None

        rows = eventually(settled, "every recording final", deadline=120)
    by_status = Counter(row.status for row in rows)
    assert {row.destination_url for row in rows if row.status == "verified"} == uploaded, by_status
    assert all(row.status == "verified" for row in rows if row.destination_url in uploaded), by_status
    # A decision whose commit the cut made ambiguous: the call got the fallback, so its recording
    # was never asked of Sinch, and it says so (it does not wait for a file that never comes).
    assert all(row.status == "failed" and row.failure_reason == LATE_REASON
               for row in rows if row.destination_url not in uploaded), by_status
