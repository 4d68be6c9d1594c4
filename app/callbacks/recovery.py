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


def recover(spool: journal.Spool, recording_deadline: int) -> int:
    """Import what waits in ``spool`` (Redis, and this process's files) and replay it; how many."""
    moved, oldest = spool.import_waiting(own_only=True)
    if moved:
        report = bring_back(oldest, recording_deadline=recording_deadline)
        log.info("recovered spooled callbacks", extra={"imported": moved, "replayed": report.applied})
    return moved


def bring_back(since: datetime, until: datetime | None = None, *, recording_deadline: int, call_id: str | None = None,
               dry_run: bool = False, progress=lambda: None) -> ReplayReport:
    """Replay the stored DiCE and notifies from ``since`` and queue the verifications they call for."""
    report = replay(since, until, call_id=call_id, dry_run=dry_run, recording_deadline=recording_deadline,
                    progress=progress)
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
