"""Journal retention: callbacks received more than ``JOURNAL_RETAIN_DAYS`` ago leave the journal.

The worker prunes every hour, once across all workers (``tasks.prune_this_hour``); ``flask journal prune``
does the same by hand. The catalogue keeps what the calls and recordings need (decision, consent
and its evidence, every recording's state), so pruning the journal loses only the raw callbacks
and their replies, and with them what ``flask journal replay`` could re-drive from that time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from huey import crontab

from app import journal
from app.db import db
from app.tasks import huey, prune_this_hour

log = logging.getLogger(__name__)


def cutoff(retain_days: int, now: datetime) -> datetime | None:
    """Callbacks received before this leave the journal; None when they are kept for ever (0)."""
    return now - timedelta(days=retain_days) if retain_days > 0 else None


def prune_journal(retain_days: int, now: datetime, *, dry_run: bool = False,
                  progress=lambda deleted: None) -> int:
    """Delete (``dry_run``: count) the callbacks older than ``retain_days``; how many."""
    before = cutoff(retain_days, now)
    if before is None:
        return 0
    return journal.prune(db.engine, before, dry_run=dry_run, progress=progress)


@huey.periodic_task(crontab(minute="41", hour="*"))
def prune_journal_hourly() -> int | None:
    """Every hour, once across all workers."""
    return prune_this_hour("journal-prune", "journal_retain_days", prune_journal, "journal pruned", log)
