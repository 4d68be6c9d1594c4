"""Bringing spooled callbacks back: import them into the journal, then re-drive what they held.

Each web process owns one :class:`Recovery` (in its ``CallbackRuntime``). After every
successful journal write the handler calls :meth:`Recovery.soon`: if this process spooled
anything, a thread imports its spool and replays the DiCE and notifies in it (verifications
queued from what the replay found). On an ephemeral disk (a Heroku dyno) nobody else can reach
this spool, so it must happen by itself. Recovery runs until nothing is pending, so callbacks
spooled while it runs are brought in too.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path

from app import journal
from app.callbacks.replay import ReplayReport, replay
from app.recordings.tasks import verify_recording

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, spool_dir: Path):
        self.spool_dir = spool_dir
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
                    moved, oldest = journal.import_spool(self.spool_dir, own_only=True)
                    if moved:
                        report = bring_back(oldest, recording_deadline=app.extensions["settings"].recording_deadline_seconds)
                        log.info("recovered spooled callbacks", extra={"imported": moved, "replayed": report.applied})
        except Exception as error:  # down again: the next successful write tries again
            self.pending = True
            log.warning("spool recovery failed; will retry", extra={"error": type(error).__name__})
        finally:
            self._running.release()


def bring_back(since: datetime, until: datetime | None = None, *, recording_deadline: int, call_id: str | None = None,
               dry_run: bool = False, progress=lambda: None) -> ReplayReport:
    """Replay the stored DiCE and notifies from ``since`` and queue the verifications they call for."""
    report = replay(since, until, call_id=call_id, dry_run=dry_run, recording_deadline=recording_deadline,
                    progress=progress)
    if not dry_run:
        for recording_id in report.verify:
            verify_recording(recording_id)
    return report
