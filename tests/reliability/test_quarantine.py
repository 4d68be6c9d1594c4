"""One spooled line that can never be imported does not block the others (issue 13): it is set
aside with the reason, and every line after it comes in."""

from __future__ import annotations

import json

from app.journal import Entry
from tests.support import journal_rows


def entry(call_id: str) -> Entry:
    from datetime import datetime, timezone

    return Entry(received_at=datetime.now(timezone.utc), request_id=None, path="/sinch/callback",
                 content_type="application/json", body=b'{"event":"ace"}', signature="ok", status_code=200,
                 outcome="accepted", handling_ms=1.0, event="ace", call_id=call_id)


def test_an_unimportable_line_is_quarantined_and_the_rest_imports(make_app, database_url):
    app = make_app(REDIS_URL="")  # the spool in files: a torn line is what a file can hold
    spool = app.extensions["sinch_recorder"].spool
    spool.put(entry("first"), RuntimeError("database down"))
    with open(spool.folder / next(p.name for p in spool.folder.glob("journal-*.jsonl")), "a") as handle:
        handle.write("{not json\n")                                   # a torn line
    poisoned = entry("nul\x00byte")                                   # PostgreSQL text cannot hold NUL
    spool.put(poisoned, RuntimeError("database down"))
    spool.put(entry("last"), RuntimeError("database down"))
    with app.app_context():
        moved, _ = spool.import_waiting()
    imported = {row.call_id for row in journal_rows(app)}
    assert {"first", "last"} <= imported and spool.waiting() == []
    refused_by_postgres = database_url.startswith("postgresql")
    assert moved == (2 if refused_by_postgres else 3)
    assert spool.quarantined() == (2 if refused_by_postgres else 1)
    reasons = [json.loads(line)["reason"] for line in (spool.folder / "quarantine.jsonl").read_text().splitlines()]
    assert reasons[0].startswith("unreadable: JSONDecodeError")
    assert app.test_client().get("/readyz").json["backlog"]["quarantined"] == spool.quarantined()
