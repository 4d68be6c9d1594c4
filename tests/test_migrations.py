"""Migrations go up and down cleanly on the suite's database engine (SQLite or PostgreSQL)."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.db import db


def test_upgrade_downgrade_upgrade(make_app, databases):
    app = make_app(DATABASE_URL=databases.new("migrations"))
    with app.app_context():
        upgrade()
        assert "journal" in inspect(db.engine).get_table_names()
        downgrade(revision="base")
        assert "journal" not in inspect(db.engine).get_table_names()
        upgrade()
        columns = {c["name"] for c in inspect(db.engine).get_columns("journal")}
        assert {"received_at", "event", "call_id", "body", "signature", "reply", "outcome", "handling_ms"} <= columns
        assert "authorization" not in columns
