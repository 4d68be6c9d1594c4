"""``flask`` commands print their output and nothing else; a database mistake is one line with the fix."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.processes import BIN, ROOT


def flask(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "RULES_FILE")}
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**clean, **env}, timeout=120)


def one_line_error(completed: subprocess.CompletedProcess) -> str:
    assert completed.returncode == 1, completed.stdout + completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr, completed.stderr
    return lines[0]


def test_commands_print_only_their_output(database_url):
    checked = flask("rules", "check", DATABASE_URL=database_url)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    assert "config/rules.example.yaml: OK" in checked.stdout
    explained = flask("rules", "explain", "--to", "+46000000123", DATABASE_URL=database_url)
    assert explained.returncode == 0 and explained.stderr == "", explained.stderr
    assert "✓ try-it: matched" in explained.stdout


def test_the_release_command_logs_json_lines(databases):
    import json

    completed = flask("db", "upgrade", DATABASE_URL=databases.new("json_release"))
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stderr.splitlines()]
    assert any(line["message"].startswith("Running upgrade  -> 0001") for line in lines)


def test_an_unreachable_database_is_one_line_with_the_fix():
    line = one_line_error(flask("db", "upgrade", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"))
    assert line.startswith("Error: cannot reach the database (") and "does DATABASE_URL name its host" in line


def test_a_database_without_migrations_says_run_db_upgrade(databases):
    line = one_line_error(flask("recordings", "list", DATABASE_URL=databases.new("no_migrations")))
    assert line == ("Error: migrations pending (the database lacks tables or columns this code uses): "
                    "run flask --app wsgi db upgrade")


@pytest.mark.parametrize("url, hint", [
    ("mysql://user@localhost/calls", "'mysql' is not supported"),
    ("postgresql+psycopg2://user@localhost/calls", "this service ships psycopg 3: write postgresql://"),
])
def test_an_unsupported_database_url_is_named_not_a_missing_command(url, hint):
    line = one_line_error(flask("recordings", "list", DATABASE_URL=url))
    assert "DATABASE_URL" in line and hint in line and "No such command" not in line


def test_a_missing_postgresql_database_says_createdb(databases):
    if databases.postgres is None:  # the SQLite run: the driver's own message, as psycopg words it
        import psycopg
        from sqlalchemy.exc import OperationalError

        from app.db import explain_database_error

        refused = psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 5432 '
                                           'failed: FATAL:  database "missing" does not exist')
        line = "Error: " + explain_database_error(OperationalError("connect", {}, refused))
    else:
        url = databases.postgres.set(drivername="postgresql", database="sr_missing_database")
        line = one_line_error(flask("db", "upgrade", DATABASE_URL=url.render_as_string(hide_password=False)))
    assert line.startswith('Error: the database "') and "does not exist: create it (createdb " in line
