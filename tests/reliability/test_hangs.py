"""A database or a store that hangs instead of refusing (issue 16): the call is answered within
``JOURNAL_BUDGET_MS``, the reply and the catalogue agree once the database answers again, and a
check whose store froze mid-read fails that read after ``STORAGE_TIMEOUT_SECONDS`` and is retried."""

from __future__ import annotations

import os
import signal

import pytest
from flask_migrate import upgrade

from app.callbacks.recovery import LATE_REASON
from app.recordings.verify import check, inspect
from app.storage import StorageError
from tests.processes import eventually
from tests.reliability.test_database_restart import postgres_behind_a_proxy  # noqa: F401  (a fixture)
from tests.support import SinchClient, a_big_object_on_a_store_of_its_own, journal_rows, pstn_ice, recordings_of


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_an_ice_while_the_database_hangs_gets_the_fallback_and_the_late_write_is_corrected(
        make_app, store, postgres_behind_a_proxy, tmp_path):  # noqa: F811
    url, proxy = postgres_behind_a_proxy
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    # A budget the calls before and after the freeze meet with room to spare on a busy machine.
    app = make_app(DATABASE_URL=url, RULES_FILE=str(tmp_path / "rules.yaml"), JOURNAL_BUDGET_MS="1500")
    with app.app_context():
        upgrade()
    sinch = SinchClient(app.test_client())
    assert [i["name"] for i in sinch.post(pstn_ice("before")).json["instructions"]] == ["startRecording"]

    proxy.stall()                                     # PostgreSQL freezes: connections stay, nothing moves
    try:
        reply = sinch.post(pstn_ice("frozen"))             # answered while it is still frozen …
        assert reply.status_code == 200
        assert reply.json["action"]["name"] == "connectPstn"
        assert "instructions" not in reply.json or not any(
            i["name"] == "startRecording" for i in reply.json["instructions"])  # … with the fallback
    finally:
        proxy.resume()

    # The write that was waiting goes through once PostgreSQL moves again; its decision is then
    # withdrawn (Sinch never heard of it) and the journal says what was answered.
    def settled():
        rows = [entry for entry in journal_rows(app) if entry.call_id == "frozen"]
        return rows if rows and all(entry.outcome == "fallback" for entry in rows) else None

    sinch.post(pstn_ice("after"))                          # a success brings the spooled entry in
    [entry] = eventually(settled, "the frozen call journaled once, as the fallback it got")
    assert entry.rule_id is None and entry.decision is None and "connectPstn" in entry.reply
    # Either the waiting write committed late and its recording was withdrawn, or it failed and
    # only the fallback's entry went in: no recording is left waiting for a file Sinch never writes.
    assert all(row.status == "failed" and row.failure_reason == LATE_REASON for row in recordings_of(app, "frozen"))
    assert [row.status for row in recordings_of(app, "after")] == ["requested"]


def test_a_store_frozen_mid_read_fails_the_read_after_the_timeout_and_the_check_is_retried(make_app):
    """SeaweedFS stopped (SIGSTOP) after the first chunk: the read does not hang for good, the
    check asks to retry, and once the store runs again the same object reads whole."""
    make_app(STORAGE_TIMEOUT_SECONDS="2")             # the factory sets every store client's read timeout
    with a_big_object_on_a_store_of_its_own() as (server, backend, here, data):
        chunks = backend.open(here)
        next(chunks)
        os.killpg(server.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(StorageError, match="stopped mid-read|cannot reach|timed out"):
                for _ in chunks:
                    pass
            assert check(backend, here, expected_format="mp3", min_duration_ms=0).outcome == "retry"
        finally:
            os.killpg(server.process.pid, signal.SIGCONT)
        assert inspect(backend, here).info.size == len(data)
