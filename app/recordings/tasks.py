"""Background work on recordings (huey, in the worker): verification, the sweeper, retention and
copies to destination profiles."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

from flask import current_app
from huey import crontab
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from app.db import db
from app.metrics import CHECKS_REQUEUED, VERIFICATIONS, VERIFY_SECONDS
from app.recordings import status
from app.recordings.copies import recover_stalled, run
from app.recordings.models import Recording
from app.recordings.queries import file_overdue
from app.recordings.retention import purge
from app.recordings.verify import Verdict, check
from app.storage import NotFound, StorageError
from app.storage.lookup import read_backend
from app.tasks import app_context, first_in_slot, first_this_hour, huey

log = logging.getLogger(__name__)
_table = Recording.__table__
MAX_RETRY_DELAY = 300.0
VERIFIABLE = (status.AVAILABLE, status.MISSING, status.FAILED, status.VERIFIED)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def retry_delay(settings, attempt: int) -> float:
    """``VERIFY_RETRY_SECONDS``, doubling with each attempt, at most five minutes, and at most half
    of ``VERIFY_STALE_SECONDS`` (a check waiting longer would look lost to the sweeper)."""
    return min(settings.verify_retry_seconds * 2 ** attempt, MAX_RETRY_DELAY, settings.verify_stale_seconds / 2)


def _heartbeat(recording_id: str, every: float) -> Callable[[], None]:
    """Called as a check reads: at most every ``every`` seconds, say the check is alive
    (``last_checked_at``), so the sweeper counts staleness from the last progress, not the start."""
    last = time.monotonic()

    def beat() -> None:
        nonlocal last
        if time.monotonic() - last < every:
            return
        last = time.monotonic()
        try:
            with db.engine.begin() as connection:
                connection.execute(update(_table).where(_table.c.id == recording_id).values(last_checked_at=_now()))
        except DBAPIError as error:  # the final write will meet the failure, and retry
            log.warning("could not record a check's progress", extra={"recording_id": recording_id,
                                                                      "error": type(error).__name__})
    return beat


def verify_now(recording_id: str, *, attempt: int = 0, force: bool = False) -> str:
    """Verify one recording now; returns its status afterwards, or ``retry`` (then rescheduled)."""
    settings, ruleset = current_app.extensions["settings"], current_app.extensions["rules"].current
    with db.engine.connect() as connection:
        row = connection.execute(select(_table).where(_table.c.id == recording_id)).mappings().first()
    if row is None:
        return "unknown"
    if row["status"] not in VERIFIABLE or (status.is_final(row["status"]) and not force):
        return row["status"]
    now = _now()
    started = time.perf_counter()
    with db.engine.begin() as connection:  # the check has started: the sweeper's clock runs from here
        connection.execute(update(_table).where(_table.c.id == recording_id).values(last_checked_at=now))
    try:
        backend, location = read_backend(ruleset, row)
        verdict = check(backend, location, _heartbeat(recording_id, settings.verify_stale_seconds / 4),
                        expected_format=row["format"],
                        min_duration_ms=settings.recording_min_duration_ms,
                        previous_sha256=row["sha256"] if row["status"] == status.VERIFIED else None)
    except StorageError as error:
        verdict = Verdict("failed", str(error))
    seconds = time.perf_counter() - started
    bookkeeping = {"verify_attempts": attempt + 1, "last_checked_at": now}
    with db.engine.begin() as connection:
        if verdict.outcome == "retry":
            waited = (now - (row["available_at"] or row["requested_at"])).total_seconds()
            if waited < settings.verify_deadline_seconds:
                delay = retry_delay(settings, attempt)
                pending = f"{verdict.reason}; check {attempt + 2} in {delay:.0f} s"
                connection.execute(update(_table).where(_table.c.id == recording_id)
                                   .values(**bookkeeping, pending_reason=pending))
                verify_recording.schedule((recording_id,), {"attempt": attempt + 1}, delay=delay)
                _count(verdict.outcome, seconds)
                log.info("recording not verifiable yet; retrying",
                         extra={"recording_id": recording_id, "reason": verdict.reason, "delay": delay})
                return "retry"
            verdict = type(verdict)("failed", f"gave up after {attempt + 1} checks over {int(waited)} s: "
                                              f"{verdict.reason}", checks=verdict.checks)
        wanted = status.VERIFIED if verdict.outcome == "verified" else status.FAILED
        fields = {**bookkeeping, "checks": verdict.checks, "pending_reason": None, **verdict.fields}
        if wanted == status.VERIFIED:
            fields.update(verified_at=now, failure_reason=None)
        else:
            fields.update(failure_reason=verdict.reason)
        moved = status.move(connection, recording_id, wanted, **fields)
    if moved or force:
        _count(verdict.outcome, seconds)
    log.info("recording checked", extra={"recording_id": recording_id, "status": wanted,
                                         "reason": verdict.reason})
    return wanted


def _count(outcome: str, seconds: float) -> None:
    """Count a check once its outcome is committed: a check whose write failed (and runs again) or
    that lost a race with another worker's check of the same recording is not counted twice."""
    VERIFY_SECONDS.observe(seconds)
    VERIFICATIONS.labels(outcome).inc()
    current_app.extensions["shared_counts"].verification(outcome, seconds)


@huey.task()
def verify_recording(recording_id: str, attempt: int = 0, force: bool = False) -> str:
    """A check in the worker. When the database fails under it (down, cut, a lost commit), the
    check is queued again with the same backoff as a file not there yet: nothing was written, and
    moves are idempotent, so checking again is safe."""
    with app_context():
        try:
            return verify_now(recording_id, attempt=attempt, force=force)
        except DBAPIError as error:
            delay = retry_delay(current_app.extensions["settings"], attempt)
            verify_recording.schedule((recording_id,), {"attempt": attempt + 1, "force": force}, delay=delay)
            log.warning("recording check hit a database failure; retrying",
                        extra={"recording_id": recording_id, "error": type(error).__name__, "delay": delay})
            return "retry"


def sweep_now(now: datetime | None = None) -> dict[str, int]:
    """Recordings past their deadline: found → verify; not there → ``missing``. Checks not heard
    of for ``VERIFY_STALE_SECONDS`` (a killed worker loses its task: huey has no acks) run again."""
    now = now or _now()
    ruleset = current_app.extensions["rules"].current
    settings = current_app.extensions["settings"]
    stale_seconds = settings.verify_stale_seconds
    report = {"found": 0, "missing": 0, "requeued": 0, "unreachable": 0}
    with db.engine.connect() as connection:
        overdue = connection.execute(select(_table).where(
            file_overdue(now, settings.call_max_seconds, settings.recording_deadline_seconds))).mappings().all()
        stale = connection.execute(select(_table.c.id).where(
            _table.c.status == status.AVAILABLE,
            (_table.c.last_checked_at <= now - timedelta(seconds=stale_seconds))
            | (_table.c.last_checked_at.is_(None) & (_table.c.available_at <= now - timedelta(seconds=stale_seconds)))
        )).scalars().all()
    for row in overdue:
        try:
            backend, location = read_backend(ruleset, row)
            backend.stat(location)
        except StorageError as error:
            if not isinstance(error, NotFound):
                report["unreachable"] += 1
                log.warning("sweeper could not look for a recording", extra={"recording_id": row["id"],
                                                                             "reason": str(error)})
                continue
            with db.engine.begin() as connection:
                if status.move(connection, row["id"], status.MISSING, failure_reason=_never_arrived(row, now)):
                    report["missing"] += 1
            continue
        with db.engine.begin() as connection:
            found = status.move(connection, row["id"], status.AVAILABLE, available_at=now)
        if found:
            report["found"] += 1
            verify_recording(row["id"])
    for recording_id in stale:
        report["requeued"] += 1
        CHECKS_REQUEUED.inc()
        current_app.extensions["shared_counts"].add("checks_requeued")
        log.warning("a check was not heard of for VERIFY_STALE_SECONDS; queued again",
                    extra={"recording_id": recording_id, "stale_seconds": stale_seconds})
        verify_recording(recording_id)
    return report


def _never_arrived(row, now: datetime) -> str:
    if row["expected_by"] is None:
        return (f"never became available: nothing at {row['destination_url']} by {now:%Y-%m-%d %H:%M:%S} UTC, "
                f"and the call's end was never heard of (CALL_MAX_SECONDS after it was requested)")
    return (f"never became available: nothing at {row['destination_url']} by "
            f"{row['expected_by']:%Y-%m-%d %H:%M:%S} UTC")


@huey.periodic_task(crontab(minute="*"))
def sweep_recordings() -> dict[str, int] | None:
    """Every minute, once across all workers (``first_in_slot``)."""
    minute = _now().replace(second=0, microsecond=0)
    if not first_in_slot("sweep", minute, minute - timedelta(minutes=1)):
        log.info("sweep skipped: another worker took this minute", extra={"slot": minute.isoformat()})
        return None
    with app_context():
        report = sweep_now()
        report["copies_failed"], requeued = recover_stalled(db.engine, _now())
        for job_id in requeued:
            copy_recording(job_id)
        report["copies_requeued"] = len(requeued)
    log.info("sweep ran", extra={"slot": minute.isoformat(), **report})
    return report


@huey.periodic_task(crontab(minute="17", hour="*"))
def purge_expired_recordings() -> dict | None:
    """Retention: delete what is past its rule's retain_days, every hour, once across all workers."""
    if not first_this_hour("purge", _now()):
        return None
    with app_context():
        return purge(current_app.extensions["rules"].current, _now())


@huey.task()
def copy_recording(job_id: str) -> str:
    """A copy to a destination profile (copies with explicit credentials run in the web process)."""
    with app_context():
        return run(db.engine, current_app.extensions["rules"].current, job_id)
