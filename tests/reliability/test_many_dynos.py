"""Many dynos on one PostgreSQL and one Redis: a web dyno dies during a database outage and a new
one takes its place with an empty disk; nothing is lost, nothing runs twice (issue 18's drill)."""

from __future__ import annotations

import json
import shutil
import uuid
from contextlib import ExitStack

import requests
from flask_migrate import upgrade
from sqlalchemy import func, select

from app.db import db
from app.journal import JournalEntry
from app.recordings.models import Recording
from app.recordings.tasks import sweep_recordings
from app.simulator.platform import CallSpec, Endpoints, Platform
from tests.processes import eventually, gunicorn, huey_worker, stop
from tests.reliability.test_database_restart import postgres_behind_a_proxy  # noqa: F401  (a fixture)
from tests.reliability.test_spool import redis_url  # noqa: F401  (a fixture)
from tests.support import APP_KEY, APP_SECRET, Store


def test_a_web_dyno_lost_during_an_outage_loses_nothing(make_app, s3_server, postgres_behind_a_proxy,  # noqa: F811
                                                        redis_url, tmp_path):  # noqa: F811
    url, proxy = postgres_behind_a_proxy
    store = Store("s3", s3_server, f"dynos-{uuid.uuid4().hex[:8]}")
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    shared = {"DATABASE_URL": url, "REDIS_URL": redis_url, "HUEY_NAME": f"dynos-{uuid.uuid4().hex[:8]}",
              "SINCH_APPLICATION_KEY": APP_KEY, "SINCH_APPLICATION_SECRET": APP_SECRET,
              "RULES_FILE": str(tmp_path / "rules.yaml"), "WEB_CONCURRENCY": "1", "VERIFY_RETRY_SECONDS": "0.5"}
    app = make_app(**{key: value for key, value in shared.items() if key != "WEB_CONCURRENCY"})
    with app.app_context():
        upgrade()

    def dyno(name: str) -> dict:
        return {**shared, "INSTANCE_PATH": str(tmp_path / name)}

    reports = []
    with ExitStack() as stack:
        webs = [stack.enter_context(gunicorn("wsgi:app", dyno(f"web-{n}"), tmp_path / f"web-{n}.log"))
                for n in (1, 2)]
        for n in (1, 2):
            stack.enter_context(huey_worker(dyno(f"worker-{n}"), tmp_path / f"worker-{n}.log", 2))
        platforms = [Platform(f"{base}/sinch/callback", APP_KEY, APP_SECRET, endpoints=Endpoints(s3=s3_server.endpoint))
                     for base, _ in webs]

        def play(platform):
            report = platform.call(CallSpec(call_id=uuid.uuid4().hex, duration=1, to="+46812345678"))
            reports.append(report)
            return report

        recorded = [play(platforms[n % 2]) for n in range(4)]       # both dynos, database up: recorded
        assert all(report.ok and report.uploads for report in recorded), [r.problems for r in recorded]
        proxy.cut()                                                  # PostgreSQL goes away …
        during = [play(platforms[n % 2]) for n in range(4)]          # … calls still answered (the fallback)
        assert all(exchange.status == 200 for report in during for exchange in report.exchanges)
        assert not any(report.uploads for report in during)         # the fallback records nothing
        first_web = webs[0][1]
        stop_now(first_web)                                          # web-1 dies, its disk with it
        shutil.rmtree(tmp_path / "web-1")
        proxy.restore()                                              # … PostgreSQL is back
        play(platforms[1])                                           # web-2's next success brings the spool in

        sent = sum(len(report.exchanges) for report in reports)

        def journal_counts():
            with app.app_context():
                counts = db.session.execute(select(func.count(), func.count(func.distinct(JournalEntry.entry_id)))
                                            .select_from(JournalEntry)).one()
                db.session.rollback()
            return tuple(counts)

        assert eventually(lambda: journal_counts() == (sent, sent) and journal_counts(),
                          f"all {sent} callbacks journaled once", deadline=90) == (sent, sent)

        def statuses():
            with app.app_context():
                rows = db.session.scalars(select(Recording.status)).all()
                db.session.rollback()
            return rows

        eventually(lambda: len(statuses()) == 5 and set(statuses()) == {"verified"}, "every recording verified",
                   deadline=90)
        sweep_recordings()                                           # this minute's sweep, queued by both
        sweep_recordings()                                           # workers' schedulers
        eventually(lambda: len(sweep_lines(tmp_path)) >= 2, "both queued sweeps to be taken", deadline=60)
        # a new dyno in web-1's place, with an empty disk: its /metrics shows the workers' counts
        with gunicorn("wsgi:app", dyno("web-1-new"), tmp_path / "web-1-new.log") as (base, _):
            for address in (base, webs[1][0]):
                text = requests.get(f"{address}/metrics", timeout=10).text
                counted = [line for line in text.splitlines() if line.startswith("sinch_worker_verifications_total")]
                assert 'sinch_worker_verifications_total{outcome="verified"} 5.0' in counted, (address, counted)
    # Each minute is claimed once: the later sweeps of a minute skip it. (The one that claimed it
    # may have started while the database was cut and failed; "sweep ran" is logged only when a
    # sweep ends, so it is not required here: the next minute's sweep makes up for it.)
    lines = sweep_lines(tmp_path)
    ran = [line["slot"] for line in lines if line["message"] == "sweep ran"]
    skipped = [line["slot"] for line in lines if line["message"].startswith("sweep skipped")]
    assert skipped and len(ran) == len(set(ran)), f"each minute claimed once: ran {ran}, skipped {skipped}"


def sweep_lines(folder) -> list[dict]:
    return [json.loads(line) for n in (1, 2) for line in (folder / f"worker-{n}.log").read_text().splitlines()
            if '"sweep ' in line]


def stop_now(process) -> None:
    import os
    import signal

    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    stop(process)
