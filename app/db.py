"""The database: one SQLAlchemy instance for the app, with SQLite tuned for short writes.

SQLite runs in WAL mode with ``synchronous=NORMAL`` so the journal insert on every callback
is one short transaction that does not wait for a full fsync; PostgreSQL connections are
pre-pinged so a restarted server does not cost a failed callback.
"""

import re
import sqlite3
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, connection_record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class UtcDateTime(TypeDecorator):
    """Times stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(timezone.utc)")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def fitted(column, value: str | None, *, cut: bool) -> str | None:
    """``value`` as a text ``column`` of bounded length can hold it, the same on every database
    (SQLite would keep a longer one, PostgreSQL refuses the whole transaction): free text is
    ``cut`` to the length, an identifier or URL that does not fit is dropped (None), since a
    shortened one would name something else."""
    limit = getattr(column.type, "length", None)
    if value is None or limit is None or len(value) <= limit:
        return value
    return value[:limit] if cut else None


class Prepared:
    """A statement every callback runs, compiled once per dialect and run on the DBAPI cursor of
    a SQLAlchemy connection, in its transaction: SQLAlchemy's per-execution work (cache key,
    compile lookup, execution context, result) cost more than the database did for the journal
    row and the call row. Each value goes through its column type's own bind processor, so what
    is stored is exactly what ``connection.execute`` stores (``tests/test_prepared.py`` holds the
    two side by side); a driver error is raised as SQLAlchemy raises it (``DBAPIError``), and a
    lost connection is invalidated, as SQLAlchemy does.

    ``statement_for(dialect_name)`` builds the statement (an upsert differs per dialect); every
    row gives a value for each of ``keys``.
    """

    def __init__(self, statement_for, keys):
        self.statement_for, self.keys = statement_for, tuple(keys)
        self._compiled: dict[str, tuple] = {}

    def _for(self, dialect) -> tuple:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement_for(dialect.name).compile(dialect=dialect, column_keys=list(self.keys))
            order = tuple(compiled.positiontup) if dialect.positional else tuple(compiled.binds)
            processors = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                               for name in order)
            found = self._compiled[dialect.name] = (compiled.string, order, processors, dialect.positional)
        return found

    def execute(self, connection, rows: list[dict]) -> None:
        """Run the statement for each of ``rows`` (one ``executemany`` for several)."""
        sql, order, processors, positional = self._for(connection.dialect)
        bound = [[value if process is None else process(value)
                  for value, process in zip((row[name] for name in order), processors)] for row in rows]
        parameters = [tuple(values) for values in bound] if positional else [dict(zip(order, values))
                                                                             for values in bound]
        raw = connection.connection  # the DBAPI connection, in this Connection's transaction
        cursor = raw.cursor()
        try:
            if len(parameters) > 1:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters[0])
        except connection.dialect.loaded_dbapi.Error as error:  # as SQLAlchemy raises it, and a lost link is dropped
            gone = connection.dialect.is_disconnect(error, raw, cursor)
            if gone:
                connection.invalidate(error)
            raise DBAPIError.instance(sql, parameters, error, connection.dialect.loaded_dbapi.Error,
                                      connection_invalidated=gone, dialect=connection.dialect) from error
        finally:
            try:
                cursor.close()
            except connection.dialect.loaded_dbapi.Error:  # the link is gone already: nothing to close
                pass


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 5}}
    # A transaction its client left open (a stuck thread, an answer lost on the way back) would hold
    # its row locks for ever and block every writer of the same rows (a spool imported twice at
    # once, say): PostgreSQL ends one idle that long. Ours last milliseconds.
    return {"pool_pre_ping": True, "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 3, "options": "-c idle_in_transaction_session_timeout=20000"}}


MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
UPGRADE = "flask --app wsgi db upgrade"


@lru_cache(maxsize=1)
def code_revision() -> str:
    """The newest migration this code ships (Alembic's head), read once from migrations/."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def pending_migrations(connection) -> str | None:
    """What to run when the database is behind the code (None when it is up to date)."""
    # Read Alembic's table directly: its MigrationContext logs two INFO lines per use, and this
    # runs on every /readyz.
    current = (connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
               if inspect(connection).has_table("alembic_version") else None)
    if current == code_revision():
        return None
    at = f"database at {current}" if current else "the database has no tables yet"
    return f"migrations pending ({at}, code at {code_revision()}): run {UPGRADE}"


def explain_database_error(error: BaseException) -> str | None:
    """One line a user can act on for a database failure, or None when it is not one.

    Built from the driver's own message, which names host, port and database but never the
    password; the URL itself is never printed.
    """
    if isinstance(error, NoSuchModuleError):
        return "DATABASE_URL names a database this service does not support: use postgresql://… or sqlite:///…"
    if not isinstance(error, DBAPIError):
        return None
    message = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
    missing = re.search(r'database "([^"]+)" does not exist', message)
    if missing:
        return (f'the database "{missing[1]}" does not exist: create it (createdb {missing[1]}) '
                f"or point DATABASE_URL at one that does, then run {UPGRADE}")
    if re.search(r"no such (table|column)|(relation|column) .* does not exist|Undefined(Table|Column)",
                 f"{message} {type(error.orig).__name__}"):
        return f"migrations pending (the database lacks tables or columns this code uses): run {UPGRADE}"
    if "password authentication failed" in message or "role" in message and "does not exist" in message:
        return f"the database refused the user in DATABASE_URL ({message.split('FATAL:')[-1].strip()})"
    if "unable to open database file" in message:
        return "cannot open the SQLite file of DATABASE_URL: does its folder exist, and may this user write there?"
    if re.search(r"Connection refused|could not connect|connection failed|failed to resolve host|timeout expired",
                 message):
        return (f"cannot reach the database ({message.removeprefix('connection failed: ')}): "
                "is it running, and does DATABASE_URL name its host and port?")
    return f"database error ({type(error.orig).__name__}: {message})"


def init_app(app) -> None:
    """The app's database (``DATABASE_URL``) and its migrations (``flask db``)."""
    url = app.extensions["settings"].database_url
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=engine_options(url))
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
