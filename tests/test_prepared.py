"""The hot path's own writes: prepared statements store what SQLAlchemy's would, and group commit
stores each callback once, alone when its group fails (on the suite's database: SQLite, or
PostgreSQL with TEST_DATABASE_URL)."""

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import journal
from app.db import db
from app.journal.entries import INSERT, stored_outcomes, write_rows
from app.recordings.catalogue import _calls, _ice_row, _ice_upsert
from tests.support import heard


def entry(**changes) -> journal.Entry:
    fields = dict(received_at=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
                  request_id="req", path="/sinch/callback", content_type="application/json",
                  body=b"\x00\xff{}", signature="ok", status_code=200, outcome="answered", handling_ms=1.5,
                  event="ice", call_id="call-1", application_key="key", reply='{"action":{}}', error=None,
                  rule_id="rule", decision={"rule": "r", "keys": ["a", "é"], "nothing": None}, upstream=None)
    fields.update(changes)
    return journal.Entry(**fields)


def stored_journal(connection, entry_id: str) -> dict:
    table = journal.JournalEntry.__table__
    row = connection.execute(select(table).where(table.c.entry_id == entry_id)).mappings().one()
    return {key: value for key, value in row.items() if key != "id"}


def test_a_prepared_journal_row_is_stored_as_sqlalchemy_stores_it(app):
    by_core, prepared = entry(), entry()
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(INSERT, journal.values(by_core))
        write_rows(connection, [prepared])
        core_row, prepared_row = stored_journal(connection, by_core.entry_id), stored_journal(connection, prepared.entry_id)
    assert prepared_row == {**core_row, "entry_id": prepared.entry_id}
    assert prepared_row["received_at"] == by_core.received_at and prepared_row["body"] == b"\x00\xff{}"
    assert prepared_row["decision"] == {"rule": "r", "keys": ["a", "é"], "nothing": None}


def test_a_prepared_call_upsert_stores_and_updates_as_sqlalchemy_does(app):
    def call(call_id, rule_id):
        return {"call_id": call_id, "started_at": datetime(2026, 3, 1, tzinfo=timezone.utc), "application_key": "k",
                "rule_id": rule_id, "ruleset_hash": "h", "decision": {"recordings": []}, "facts": {"cli": "+4670"},
                "consent": "not_asked", "resource_url": None, "conference_id": None}

    with app.app_context(), db.engine.begin() as connection:
        upsert = _ice_upsert(connection.dialect.name)
        connection.execute(upsert, call("by-core", "first"))
        connection.execute(upsert, call("by-core", "second"))
        _ice_row.execute(connection, [call("prepared", "first")])
        _ice_row.execute(connection, [call("prepared", "second")])  # the same ICE again: the call is updated
        rows = {row["call_id"]: dict(row) for row in connection.execute(
            select(_calls).where(_calls.c.call_id.in_(["by-core", "prepared"]))).mappings()}
    assert rows["prepared"] == {**rows["by-core"], "call_id": "prepared"} and rows["prepared"]["rule_id"] == "second"


def test_a_group_is_one_transaction_and_a_bad_member_fails_alone(app):
    def refuse(connection):
        raise ValueError("this one's decision cannot be written")

    good, bad, other = entry(), entry(call_id="call-2"), entry(call_id="call-3")
    with app.app_context():
        failures = journal.store_group([(good, None), (bad, refuse), (other, None)], db.engine)
        with db.engine.connect() as connection:
            found = stored_outcomes(connection, [good.entry_id, bad.entry_id, other.entry_id])
    assert failures[0] is None and failures[2] is None and isinstance(failures[1], ValueError)
    assert set(found) == {good.entry_id, other.entry_id}  # nothing of the bad one, all of the others


def _write_at_once(app, writer, entries, *, committed_on_return: bool = False) -> dict[str, str]:
    """Each entry written by a request thread of its own, all released at once; with
    ``committed_on_return``, each thread checks that its row is committed when its write returns
    (its reply would go out then)."""
    results: dict[str, str] = {}
    start = threading.Barrier(len(entries))

    def request(item):
        writer.begin()
        start.wait()
        with app.app_context():
            outcome = writer.write(item, None, lambda failure: "stored" if failure is None else "failed", db.engine)
            if committed_on_return:
                with db.engine.connect() as connection:
                    if not stored_outcomes(connection, [item.entry_id]):
                        outcome = "not committed when its write returned"
            results[item.entry_id] = outcome

    threads = [threading.Thread(target=request, args=(item,)) for item in entries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_request_threads_writing_at_once_are_committed_in_groups_each_waiting_for_its_own(app):
    writer = journal.Writer(2000)
    entries = [entry(call_id=f"call-{n}") for n in range(24)]
    results = _write_at_once(app, writer, entries, committed_on_return=True)
    assert results == {item.entry_id: "stored" for item in entries}


@pytest.mark.parametrize(("apart", "together", "waiting", "full", "group_wait", "expected"), [
    (0.001, 0.5, 1, 4, 0.001, True),     # writes 1 ms apart, often together, a 1 ms wait: wait
    (0.0039, 0.5, 3, 4, 0.001, True),    # just under four waits apart
    (0.004, 0.5, 1, 4, 0.001, False),    # four waits apart: seldom enough to commit at once
    (0.008, 0.0, 1, 4, 0.001, False),    # the first write of all (a pause counts as 2 x 4 waits)
    (0.0005, 0.0, 1, 4, 0.001, False),   # one after another, never overlapping: nobody would join
    (0.0005, 0.1, 1, 4, 0.001, False),   # ... or hardly ever
    (0.0, 1.0, 4, 4, 0.001, False),      # every request thread's write is in: the group cannot grow
    (0.0, 1.0, 1, 4, 0.0, False),        # JOURNAL_GROUP_WAIT_MS=0
])
def test_the_group_commit_waits_for_company_only_while_callbacks_come_close_together(
        apart, together, waiting, full, group_wait, expected):
    assert journal.gathering(apart, together, waiting, full, group_wait) is expected


def _as_if_callbacks_came_close_together(writer: journal.Writer) -> None:
    writer._queue.last, writer._queue.apart, writer._queue.together = time.monotonic(), 0.0, 1.0


def test_writes_that_come_close_together_share_one_commit_made_once_every_request_thread_is_in(app):
    # A wait far longer than the budget: had the thread waited it out, every write would be Late.
    writer = journal.Writer(20_000, group_wait_ms=50_000, request_threads=3)
    _as_if_callbacks_came_close_together(writer)
    entries = [entry(call_id=f"call-{n}") for n in range(3)]
    with app.app_context(), heard(db.engine, "commit") as commits:
        results = _write_at_once(app, writer, entries)
    assert results == {item.entry_id: "stored" for item in entries}
    assert len(commits) == 1


def test_a_callback_that_comes_alone_is_committed_at_once(app):
    writer = journal.Writer(5_000, group_wait_ms=50_000)  # had it waited for company, it would be Late
    alone = entry(call_id="alone")
    writer.begin()  # as a request does: its budget starts
    with app.app_context():
        assert writer.write(alone, None, lambda failure: failure, db.engine) is None


def test_a_client_that_sends_one_callback_after_another_is_not_kept_waiting(app):
    writer = journal.Writer(20_000, group_wait_ms=50_000)  # had one waited for company, it would be Late
    entries = [entry(call_id=f"serial-{n}") for n in range(20)]
    with app.app_context():
        for item in entries:
            writer.begin()
            assert writer.write(item, None, lambda failure: failure, db.engine) is None
    assert writer._queue.apart < journal.CLOSE * writer._queue.group_wait  # close together, yet never overlapping


def test_a_group_that_does_not_fill_is_committed_when_the_wait_is_over(app):
    writer = journal.Writer(20_000, group_wait_ms=50, request_threads=4)
    _as_if_callbacks_came_close_together(writer)
    waits = entry(call_id="waits")
    assert journal.gathering(writer._queue.apart, writer._queue.together, 1, 4, writer._queue.group_wait)
    writer.begin()
    with app.app_context():
        assert writer.write(waits, None, lambda failure: failure, db.engine) is None
        with db.engine.connect() as connection:
            assert stored_outcomes(connection, [waits.entry_id])


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(app):
    once = entry()
    with app.app_context(), db.engine.connect() as connection:
        write_rows(connection, [once])
        with pytest.raises(IntegrityError) as refused:
            write_rows(connection, [once])  # the same entry id again: the unique index refuses it
        connection.rollback()
    assert "entry_id" in str(refused.value)
