"""The schema the migrations build, held against the models and against the queries that need it,
on the suite's database engine (SQLite or PostgreSQL)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db import db
from app.health import replays_pending
from app.recordings.catalogue import room_recorded
from tests.support import heard


def test_the_migrations_build_what_the_models_declare(make_app):
    with make_app().app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def _plans(connection, statements) -> list[str]:
    """The query plan of each statement, as the database would run it on a large table."""
    plans = []
    for sql, parameters in statements:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters).all()
            plans.append(" | ".join(row[-1] for row in rows))
        else:  # a few rows: PostgreSQL would scan them all unless told that scanning is dear
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = connection.exec_driver_sql("EXPLAIN " + sql, parameters).all()
            plans.append(" | ".join(row[0] for row in rows))
    return plans


def _statements_of(work) -> list[tuple[str, object]]:
    with heard(db.engine, "before_cursor_execute") as calls:  # (conn, cursor, statement, parameters, …)
        work()
    return [(statement, parameters) for _, _, statement, parameters, *_ in calls]


def test_the_partial_indexes_serve_the_queries_that_need_them(make_app):
    """The replay flag and the room are indexed only where set (a callback's rows skip them); the
    count of pending replays and the look-up of who is in a room must still use those indexes."""
    app = make_app()
    with app.app_context():
        def in_room():
            with db.engine.connect() as connection:
                room_recorded(connection, "room-1")

        pending = _statements_of(replays_pending)
        room = _statements_of(in_room)
        with db.engine.begin() as connection:
            [pending_plan] = _plans(connection, pending)
            [room_plan] = _plans(connection, room)
    assert "ix_journal_replay_pending" in pending_plan
    assert "ix_calls_conference_id" in room_plan
