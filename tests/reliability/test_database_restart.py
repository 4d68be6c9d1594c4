"""The database restarts under callback load: ICE keeps being answered, no journal entry is lost."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.db import db
from app.journal import JournalEntry
from app.sinch.svaml import render
from tests.support import Databases, SinchClient, unavailable
from tests.tcp_proxy import TcpProxy

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_behind_a_proxy(databases, tmp_path):
    """A fresh PostgreSQL database reached through a proxy the test can cut (a restart). The
    SQLite run of the suite uses the machine's PostgreSQL for this test too."""
    import psycopg

    postgres = databases if databases.postgres is not None else Databases(DEFAULT_POSTGRES)
    try:
        postgres._admin().close()
    except psycopg.OperationalError:
        unavailable("PostgreSQL at 127.0.0.1:5432")
    url = make_url(postgres.new(f"restart_{uuid.uuid4().hex[:8]}"))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()
    if postgres is not databases:
        postgres.drop_all()


def test_ice_keeps_being_answered_through_a_restart_and_nothing_is_lost(make_app, postgres_behind_a_proxy):
    url, proxy = postgres_behind_a_proxy
    app = make_app(DATABASE_URL=url)
    with app.app_context():
        upgrade()
    total, sent = 600, [0]
    cut_at, back_at = 150, 350
    lock = threading.Lock()

    def caller(thread: int) -> None:
        sinch = SinchClient(app.test_client())
        for i in range(total // 4):
            response = sinch.post({"event": "ice", "callid": f"load-{thread}-{i}", "cli": "+46701111111",
                                   "to": {"type": "number", "endpoint": "+46812345678"}, "domain": "pstn"})
            assert response.status_code == 200
            render(response.json, "ice")  # always valid SVAML
            with lock:
                sent[0] += 1
                if sent[0] == cut_at:
                    proxy.cut()          # the database goes down …
                if sent[0] == back_at:
                    proxy.restore()      # … and comes back

    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("sinch_journal_failures_total") or 0
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(caller, range(4)))
    spooled = (REGISTRY.get_sample_value("sinch_journal_failures_total") or 0) - before
    assert spooled > 0  # the outage was real: some callbacks could not be journaled at once

    spool = app.extensions["sinch_recorder"].spool

    def recovered() -> None:  # a recovery under way holds the spool it claimed, out of waiting()'s sight
        for thread in [t for t in threading.enumerate() if t.name == "spool-recovery"]:
            thread.join(60)

    recovered()
    after = 0
    while spool.waiting() and after < 20:  # live traffic: each success brings the spool in
        SinchClient(app.test_client()).post({"event": "ace", "callid": f"after-{after}", "version": 1})
        after += 1
        recovered()
    with app.app_context():
        journaled = db.session.scalar(select(func.count()).select_from(JournalEntry))
        db.engine.dispose()
    assert journaled == total + after
    assert spool.waiting() == []
