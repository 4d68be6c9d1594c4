"""Journal retention: callbacks older than JOURNAL_RETAIN_DAYS leave the journal, hourly and by hand."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from app import journal
from app.callbacks.pruning import cutoff, prune_journal_hourly
from app.db import db
from app.journal import JournalEntry

NOW = datetime.now(timezone.utc)


def _entry(days_ago: float, call_id: str) -> journal.Entry:
    return journal.Entry(received_at=NOW - timedelta(days=days_ago), request_id=None, path="/sinch/callback",
                         content_type="application/json", body=b"{}", signature="ok", status_code=200,
                         outcome="accepted", handling_ms=1.0, event="dice", call_id=call_id)


def _journal(app, ages: dict[str, float], pending: tuple[str, ...] = ()) -> None:
    with app.app_context():
        for call_id, days_ago in ages.items():
            assert journal.store(_entry(days_ago, call_id)) is None
        table = JournalEntry.__table__
        with db.engine.begin() as connection:
            connection.execute(update(table).where(table.c.call_id.in_(pending)).values(replay_pending=True))


def _left(app) -> set[str]:
    with app.app_context():
        with db.engine.connect() as connection:
            return set(connection.execute(select(JournalEntry.call_id)).scalars())


def test_cutoff_is_the_retention_before_now_and_none_keeps_everything():
    assert cutoff(90, NOW) == NOW - timedelta(days=90)
    assert cutoff(0, NOW) is None


def test_prune_deletes_old_rows_in_batches_and_keeps_recent_and_pending_ones(app):
    old = {f"old-{n}": 40 + n for n in range(7)}
    _journal(app, {**old, "recent": 10, "pending": 400}, pending=("pending",))
    with app.app_context():
        assert journal.prune(db.engine, NOW - timedelta(days=30), dry_run=True) == 7
        assert _left(app) == {*old, "recent", "pending"}  # a dry run deletes nothing
        batches = []
        assert journal.prune(db.engine, NOW - timedelta(days=30), batch=3, progress=batches.append) == 7
    assert batches == [3, 3, 1]
    assert _left(app) == {"recent", "pending"}


def test_the_cli_prunes_with_progress_and_says_what_to_do_when_retention_is_off(make_app):
    app = make_app(JOURNAL_RETAIN_DAYS="30")
    _journal(app, {"a": 45, "b": 31, "c": 5})
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["journal", "prune", "--dry-run"])
    assert dry.exit_code == 0 and "2 callback(s) received more than 30 day(s) ago would be deleted" in dry.output
    assert _left(app) == {"a", "b", "c"}
    narrower = runner.invoke(args=["journal", "prune", "--older-than", "40"])
    assert narrower.exit_code == 0 and "deleted 1 callback(s) received more than 40 day(s) ago" in narrower.output
    assert _left(app) == {"b", "c"}
    done = runner.invoke(args=["journal", "prune"])
    assert done.exit_code == 0 and "deleted 1 callback(s)" in done.output and _left(app) == {"c"}

    kept = make_app(JOURNAL_RETAIN_DAYS="0")
    refused = kept.test_cli_runner().invoke(args=["journal", "prune"])
    assert refused.exit_code == 2 and "pass --older-than DAYS" in refused.output and _left(app) == {"c"}
    bad = kept.test_cli_runner().invoke(args=["journal", "prune", "--older-than", "0"])
    assert bad.exit_code == 2 and "--older-than" in bad.output


def test_the_hourly_task_prunes_once_per_hour_across_workers(make_app, queue):
    app = make_app(JOURNAL_RETAIN_DAYS="30")
    _journal(app, {"old": 31, "new": 29})
    prune_journal_hourly()  # queued by the first worker's scheduler
    assert queue.run(app) == 1
    assert _left(app) == {"new"}
    _journal(app, {"also-old": 32})
    prune_journal_hourly()  # by the second's, in the same hour: taken already
    assert queue.run(app) == 1
    assert _left(app) == {"new", "also-old"}


def test_the_hourly_task_keeps_everything_when_retention_is_off(make_app, queue):
    app = make_app(JOURNAL_RETAIN_DAYS="0")
    _journal(app, {"ancient": 3000})
    prune_journal_hourly()
    assert queue.run(app) == 1
    assert _left(app) == {"ancient"}
