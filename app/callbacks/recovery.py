"""Bringing spooled callbacks back: import them into the journal, then re-drive what they held.

Each web process owns one :class:`Recovery` (in its ``CallbackRuntime``). After every
successful journal write the handler calls :meth:`Recovery.soon`: if this process spooled
anything, a thread imports the spool (the shared Redis list, and this process's files) and
replays the DiCE and notifies in it (verifications queued from what the replay found). Recovery
runs until nothing is pending, so callbacks spooled while it runs are brought in too. The
worker does the same every minute (:func:`recover_shared_spool`), so what a dyno spooled to
Redis comes back even when that dyno is gone.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

from flask import current_app
from huey import crontab

from app import journal
from app.callbacks.replay import ReplayReport, replay
from app.recordings.catalogue import withdraw_decision
from app.recordings.tasks import verify_recording
from app.tasks import app_context, first_in_slot, huey

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, spool: journal.Spool):
        self.spool = spool
        self.pending = True  # something may wait in this process's spool (from before a restart, say)
        self._running = threading.Lock()

    def spooled(self) -> None:
        """The handler spooled an entry: the next successful write brings it back."""
        self.pending = True

    def soon(self, app) -> None:
        if not self.pending or not self._running.acquire(False):
            return
        threading.Thread(target=self._run, args=(app,), name="spool-recovery", daemon=True).start()

    def _run(self, app) -> None:
        try:
            with app.app_context():
                while self.pending:
                    self.pending = False
                    recover(self.spool, app.extensions["settings"].recording_deadline_seconds)
        except Exception as error:  # down again: the next successful write tries again
            self.pending = True
            log.warning("spool recovery failed; will retry", extra={"error": type(error).__name__})
        finally:
            self._running.release()


LATE_REASON = ("never asked of Sinch: its decision was stored, but the database's answer came too late or "
               "not at all, so the call got the fallback, which records nothing")


def settle(connection, answered: dict) -> None:
    """An entry stored with one outcome while the call was answered with another (a write that
    committed after JOURNAL_BUDGET_MS, or a COMMIT whose answer was lost while the database stayed
    away): the journal row says what was answered, and when that was the fallback the decision's
    recordings are withdrawn (``failed``: Sinch was never asked for them)."""
    journal.correct(connection, answered)
    if answered["outcome"] == "fallback" and answered.get("call_id"):
        withdrawn = withdraw_decision(connection, call_id=answered["call_id"], requested_at=answered["received_at"],
                                      reason=LATE_REASON)
        log.warning("a decision was stored but the call got the fallback; its recordings are withdrawn",
                    extra={"call_id": answered["call_id"], "withdrawn": withdrawn})


def recover(spool: journal.Spool, recording_deadline: int) -> int:
    """Import what waits in ``spool`` (Redis, and this process's files), then replay every imported
    callback not replayed yet (this import's, and any an earlier recovery could not finish);
    returns how many were imported."""
    moved, _ = spool.import_waiting(own_only=True)
    report = bring_back(None, recording_deadline=recording_deadline, pending=True)
    if moved or report.seen:
        log.info("recovered spooled callbacks", extra={"imported": moved, "replayed": report.applied})
    return moved


def bring_back(since: datetime | None, until: datetime | None = None, *, recording_deadline: int,
               call_id: str | None = None, pending: bool = False, dry_run: bool = False,
               progress=lambda: None) -> ReplayReport:
    """Replay the stored DiCE and notifies (from ``since``, or those pending) and queue the
    verifications they call for."""
    report = replay(since, until, call_id=call_id, dry_run=dry_run, recording_deadline=recording_deadline,
                    pending=pending, progress=progress)
    if not dry_run:
        for recording_id in report.verify:
            verify_recording(recording_id)
    return report


@huey.periodic_task(crontab(minute="*"))
def recover_shared_spool() -> int | None:
    """Every minute, once across the workers: callbacks any process spooled to Redis (a web dyno
    that died during an outage, say) are imported and replayed once the database takes them."""
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    if not first_in_slot("spool", minute, minute - timedelta(minutes=1)):
        return None
    with app_context():
        return recover(current_app.extensions["sinch_recorder"].spool,
                       current_app.extensions["settings"].recording_deadline_seconds)
