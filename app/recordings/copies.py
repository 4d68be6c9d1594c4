"""Copying a verified recording anywhere — S3, Azure Blob, GCS, to and from each — as a job.

A copy is asked for with a destination profile of the ruleset (the worker runs it) or an explicit
bucket/container with write credentials (the web process that received them runs it, in a thread,
and forgets them: they are never queued, stored, logged or echoed).

:func:`method_for` decides, purely, how: a **server-side** copy when source and target are the
same service (the same S3 endpoint, the same Azure account, the same GCS endpoint), otherwise a
**streamed** transfer — the source read once in chunks into the target's multipart upload, so
memory holds a few parts whatever the size. A server-side copy the target cannot make (its
credentials may not read the source) falls back to streaming.

Then the copy is proven like any recording (read back, SHA-256 must equal the source's, audio
probed) and catalogued as a recording of its own with ``copied_from`` pointing at the source.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, Mapping

from sqlalchemy import insert, select, update

from app.db import db
from app.recordings import status
from app.recordings.catalogue import new_recording
from app.recordings.models import CopyJob, Recording
from app.recordings.verify import check
from app.storage import READ_KEYS, Backend, Location, LocationError, StorageError, parse_location, reader
from app.storage.endpoints import refused_endpoint, ruleset_endpoints
from app.storage.lookup import read_settings, service_of

log = logging.getLogger(__name__)
_jobs, _recordings = CopyJob.__table__, Recording.__table__

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
SERVER_SIDE, STREAMED = "server_side", "streamed"
PROGRESS_EVERY = 0.5     # seconds between progress writes to the job row
STALLED_AFTER = timedelta(minutes=15)  # a job silent this long lost its process


class CopyRefused(Exception):
    """The request cannot be carried out as asked; ``str()`` says why and what to do."""

    def __init__(self, message: str, status_code: int = 400, field_name: str | None = None):
        super().__init__(message)
        self.status_code, self.field_name = status_code, field_name


@dataclass(frozen=True)
class Target:
    location: Location
    read: Mapping[str, str] = field(repr=False)  # how to read it back: a profile's read, or the caller's
    destination: str | None = None               # the profile's name, when one was named
    write: Mapping[str, str] | None = field(default=None, repr=False)  # how to write it, if not with read

    @property
    def explicit(self) -> bool:
        return self.destination is None

    def backend(self) -> Backend:
        return reader(self.location.scheme, self.read)

    def writer(self) -> Backend:
        return reader(self.location.scheme, self.write or self.read)


def method_for(source: Location, source_read: Mapping[str, str], target: Target) -> str:
    """``server_side`` when both are on one service, else ``streamed`` (pure)."""
    writes_with = target.write or target.read
    return SERVER_SIDE if service_of(source, source_read) == service_of(target.location, writes_with) else STREAMED


def target_for(ruleset, source: Mapping, *, destination: str | None = None, key: str | None = None,
               target: str | None = None, credentials: Mapping[str, str] | None = None,
               allowed_endpoints: tuple[str, ...] = ()) -> Target:
    """Where a copy of ``source`` (a recording row) goes: a profile, or a URL with credentials.

    To a profile the copy lands where the profile's ``url`` template says, filled with the
    source's call, segment, format, rule and date, unless a ``key`` is given. A key or URL ending
    in ``/`` is a folder: the source's file name is added. The copy is written with the
    profile's ``write:`` credentials (``read:`` when it has none) and read back with ``read:``.
    Explicit credentials may name only endpoints an operator allowed (:mod:`app.storage.endpoints`:
    the public clouds, the ruleset's own, ``allowed_endpoints``), and carry content, never a path.
    """
    name = posixpath.basename(parse_location(source["destination_url"]).key)
    if destination is not None:
        profile = ruleset.destinations.get(destination)
        if profile is None:
            known = ", ".join(sorted(ruleset.destinations)) or "none"
            raise CopyRefused(f"no destination profile {destination!r} in the ruleset (known: {known})",
                              field_name="destination")
        if key is None:
            url = profile.url.fill({"callid": source["call_id"], "segment": source["segment"],
                                    "format": source["format"], "rule": source["rule_id"] or "",
                                    "uuid": uuid.uuid4().hex}, source["requested_at"])
        else:
            chosen = key + name if key.endswith("/") or not key else key
            url = f"{profile.scheme}://{profile.url.container}/{chosen.lstrip('/')}"
        return Target(_parse(url, "key"), profile.read, destination, profile.write or None)
    url = target + name if target.endswith("/") else target
    location = _parse(url, "target")
    unknown = sorted(set(credentials) - READ_KEYS[location.scheme])
    if unknown:
        raise CopyRefused(f"credentials for {location.scheme}:// take {', '.join(sorted(READ_KEYS[location.scheme]))}; "
                          f"not {', '.join(unknown)}", field_name="credentials")
    refused = refused_endpoint(location.scheme, credentials, (*allowed_endpoints, *ruleset_endpoints(ruleset)))
    if refused is not None:
        raise CopyRefused(f"the endpoint {refused[:200]} is not one this service may reach: the public clouds, the "
                          "ruleset's destinations and COPY_ALLOWED_ENDPOINTS are; ask an operator to add it there",
                          status_code=403, field_name="credentials")
    if credentials.get("credentials_json") and not credentials["credentials_json"].lstrip().startswith("{"):
        raise CopyRefused("credentials_json is the service account's JSON itself, not a path to it",
                          field_name="credentials")
    return Target(location, dict(credentials))


def profile_target(ruleset, job: Mapping) -> Target:
    """The target of a job to a destination profile, from its row (in the worker)."""
    profile = ruleset.destinations.get(job["destination"] or "")
    if profile is None:
        raise CopyRefused(f"the destination profile {job['destination']!r} is no longer in the ruleset")
    return Target(parse_location(job["target_url"]), profile.read, job["destination"], profile.write or None)


def _parse(url: str, field_name: str) -> Location:
    try:
        return parse_location(url)
    except LocationError as error:
        raise CopyRefused(str(error), field_name=field_name) from None


def new_job(connection, source: Mapping, target: Target, *, requested_by: str, now: datetime) -> str:
    """Record a queued job for ``source`` (a verified recording row); refuses a taken target."""
    if source["status"] != status.VERIFIED:
        raise CopyRefused(f"recording {source['id']} is {source['status']}: only verified recordings can be "
                          "copied", status_code=409)
    if target.location.uri == source["destination_url"]:
        raise CopyRefused("the target is the recording itself; choose another bucket or key", field_name="target")
    taken = connection.execute(select(_recordings.c.id).where(
        _recordings.c.destination_url == target.location.uri)).scalar()
    if taken:
        raise CopyRefused(f"{target.location.uri} is already catalogued as recording {taken}; choose another key",
                          status_code=409)
    under_way = connection.execute(select(_jobs.c.id).where(
        _jobs.c.target_url == target.location.uri, _jobs.c.status.in_((QUEUED, RUNNING)))).scalar()
    if under_way:
        raise CopyRefused(f"a copy to {target.location.uri} is already under way (job {under_way}); follow it at "
                          f"/api/v1/copies/{under_way}", status_code=409)
    job_id = uuid.uuid4().hex
    connection.execute(insert(_jobs).values(
        id=job_id, recording_id=source["id"], target_url=target.location.uri, destination=target.destination,
        runner="web" if target.explicit else "worker", status=QUEUED, bytes_done=0,
        bytes_total=source["size_bytes"], requested_by=requested_by, created_at=now, updated_at=now))
    return job_id


def create(engine, ruleset, recording_id: str, *, requested_by: str, now: datetime | None = None,
           **where) -> tuple[str, Target]:
    """A queued job copying recording ``recording_id`` to ``where`` (the arguments of
    :func:`target_for`); raises :class:`CopyRefused` saying why not. Returns (job id, target)."""
    with engine.begin() as connection:
        source = connection.execute(select(_recordings).where(_recordings.c.id == recording_id)).mappings().first()
        if source is None:
            raise CopyRefused(f"no recording {recording_id}", status_code=404)
        target = target_for(ruleset, source, **where)
        job_id = new_job(connection, source, target, requested_by=requested_by,
                         now=now or datetime.now(timezone.utc))
    return job_id, target


class Stream(io.RawIOBase):
    """A read-only, non-seekable file over an iterator of chunks that hashes and counts what
    passes through and reports progress — what a multipart upload reads from."""

    def __init__(self, chunks: Iterator[bytes], progress: Callable[[int], None]):
        self.chunks, self.progress = chunks, progress
        self.sha256, self.done, self.pending = hashlib.sha256(), 0, b""

    def readable(self) -> bool:
        return True

    def tell(self) -> int:  # resumable uploads ask where they are; seeking stays unsupported
        return self.done

    def _take(self, limit: int) -> memoryview:
        """Up to ``limit`` bytes of the current chunk (empty at the end), counted and reported."""
        while not self.pending:
            chunk = next(self.chunks, None)
            if chunk is None:
                return memoryview(b"")
            self.sha256.update(chunk)
            self.pending = memoryview(chunk)
        taken, self.pending = self.pending[:limit], self.pending[limit:]
        self.done += len(taken)
        self.progress(self.done)
        return taken

    def readinto(self, buffer) -> int:
        taken = self._take(len(buffer))
        buffer[:len(taken)] = taken
        return len(taken)

    def read(self, size: int = -1) -> bytes:
        """Exactly ``size`` bytes unless the end comes first: uploaders take a short read for the
        last part (S3 would refuse parts under 5 MiB; a GCS resumable upload would send each
        chunk as a request of its own)."""
        remaining, parts = size if size is not None and size >= 0 else sys.maxsize, []
        while remaining and (taken := self._take(remaining)):
            parts.append(taken)
            remaining -= len(taken)
        return b"".join(parts)


def run(engine, ruleset, job_id: str, target: Target | None = None, *,
        now=lambda: datetime.now(timezone.utc), progress: Callable[[int], None] | None = None) -> str:
    """Carry out one job to the end; returns its final status. Errors end up in the job row.

    ``target`` is given for explicit credentials; a job to a profile finds it in the ruleset.
    ``progress`` (the CLI's bar) hears every byte count, the job row one every half second."""
    with engine.begin() as connection:
        job = connection.execute(select(_jobs).where(_jobs.c.id == job_id)).mappings().first()
        if job is None or job["status"] != QUEUED:
            return job["status"] if job else "unknown"
        source = connection.execute(select(_recordings).where(_recordings.c.id == job["recording_id"])
                                    ).mappings().first()
        claimed = connection.execute(update(_jobs).where(_jobs.c.id == job_id, _jobs.c.status == QUEUED)
                                     .values(status=RUNNING, started_at=now(), updated_at=now())).rowcount
    if not claimed:  # another runner took it first
        return RUNNING
    reporter = _Progress(engine, job_id, now, progress)
    try:
        if source is None or source["status"] != status.VERIFIED:
            raise CopyRefused(f"the source recording is {source['status'] if source else 'gone'}; only verified "
                              "recordings can be copied")
        target = target or profile_target(ruleset, job)
        source_read, source_location = read_settings(ruleset, source), parse_location(source["destination_url"])
        source_backend, target_writer = reader(source_location.scheme, source_read), target.writer()
        method = method_for(source_location, source_read, target)
        if method == SERVER_SIDE:
            try:
                target_writer.copy(source_location, target.location)
                reporter(source["size_bytes"] or 0, force=True)
            except StorageError as error:
                log.info("server-side copy refused; streaming instead", extra={"job_id": job_id, "reason": str(error)})
                method = STREAMED
        if method == STREAMED:
            info = source_backend.stat(source_location)
            stream = Stream(source_backend.open(source_location, version=info.version), reporter)
            target_writer.upload(target.location, stream, info.size, source["content_type"] or
                                  "application/octet-stream")
            reporter(stream.done, force=True)
            if stream.sha256.hexdigest() != source["sha256"]:
                raise CopyRefused(f"the source changed since it was verified (its SHA-256 is now "
                                  f"{stream.sha256.hexdigest()}); verify it again before copying")
        verdict = check(target.backend(), target.location, expected_format=source["format"], min_duration_ms=0)
        if verdict.outcome != status.VERIFIED:
            raise CopyRefused(f"the copy at {target.location.uri} did not verify: {verdict.reason}")
        if verdict.fields["sha256"] != source["sha256"]:
            raise CopyRefused(f"the copy at {target.location.uri} did not verify: its SHA-256 "
                              f"{verdict.fields['sha256']} differs from the source's {source['sha256']}")
        copy_id = _catalogue(engine, source, target, verdict, job_id, method, now())
        _finish(engine, job_id, now(), status=SUCCEEDED, method=method, copy_id=copy_id,
                bytes_done=source["size_bytes"])
        log.info("recording copied", extra={"job_id": job_id, "recording_id": source["id"], "copy_id": copy_id,
                                            "method": method})
        return SUCCEEDED
    except (StorageError, CopyRefused) as error:
        _finish(engine, job_id, now(), status=FAILED, error=str(error))
        log.warning("copy failed", extra={"job_id": job_id, "reason": str(error)})
        return FAILED
    except Exception as error:  # noqa: BLE001 — a job never stays "running" because of a bug
        _finish(engine, job_id, now(), status=FAILED, error=f"internal error ({type(error).__name__}); see the logs")
        log.exception("copy crashed", extra={"job_id": job_id})
        return FAILED


class _Progress:
    """Writes ``bytes_done`` to the job at most every :data:`PROGRESS_EVERY` seconds."""

    def __init__(self, engine, job_id: str, now, also: Callable[[int], None] | None = None):
        self.engine, self.job_id, self.now, self.last, self.also = engine, job_id, now, 0.0, also

    def __call__(self, done: int, force: bool = False) -> None:
        if self.also is not None:
            self.also(done)
        moment = time.monotonic()
        if force or moment - self.last >= PROGRESS_EVERY:
            self.last = moment
            with self.engine.begin() as connection:
                connection.execute(update(_jobs).where(_jobs.c.id == self.job_id)
                                   .values(bytes_done=done, updated_at=self.now()))


def _finish(engine, job_id: str, moment: datetime, **values) -> None:
    with engine.begin() as connection:
        connection.execute(update(_jobs).where(_jobs.c.id == job_id)
                           .values(finished_at=moment, updated_at=moment, **values))


def _catalogue(engine, source: Mapping, target: Target, verdict, job_id: str, method: str,
               moment: datetime) -> str:
    """The copy as a verified recording of its own, with lineage to the source."""
    keep = ("call_id", "conference_id", "segment", "rule_id", "ruleset_hash", "format", "mode", "transcription_url")
    with engine.begin() as connection:
        copy_id = new_recording(connection, initial=status.AVAILABLE, destination=target.destination,
                                destination_url=target.location.uri, copied_from=source["id"], requested_at=moment,
                                finished_at=moment, available_at=moment, legal_hold=False,
                                announced="recording.copied", **{name: source[name] for name in keep})
        status.move(connection, copy_id, status.VERIFIED, verified_at=moment, last_checked_at=moment,
                    verify_attempts=1, checks={**verdict.checks, "copy_of": source["id"], "copy_job": job_id,
                                               "method": method}, **verdict.fields)
    return copy_id


def recover_stalled(engine, now: datetime) -> tuple[int, list[str]]:
    """Jobs silent for :data:`STALLED_AFTER` lost their process (a restart, a killed worker).

    A web job's credentials went with its process: it is failed, to be posted again. A worker
    job is put back in the queue (copying onto the same key again is harmless): its ids are
    returned for the caller to enqueue. Returns (failed, requeued ids)."""
    stalled = (_jobs.c.status.in_((QUEUED, RUNNING)), _jobs.c.updated_at <= now - STALLED_AFTER)
    with engine.begin() as connection:
        failed = connection.execute(update(_jobs).where(_jobs.c.runner == "web", *stalled).values(
            status=FAILED, finished_at=now, updated_at=now,
            error="interrupted: the web process running it stopped; post the copy again")).rowcount
        requeued = list(connection.execute(select(_jobs.c.id).where(_jobs.c.runner == "worker", *stalled)).scalars())
        if requeued:
            connection.execute(update(_jobs).where(_jobs.c.id.in_(requeued))
                               .values(status=QUEUED, bytes_done=0, updated_at=now))
    return failed, requeued


def init_app(app) -> None:
    """The web process's copy threads (``COPY_THREADS``), for copies with explicit credentials."""
    app.extensions["copies"] = WebRunner(app, app.extensions["settings"].copy_threads)


class WebRunner:
    """Runs copies with explicit credentials in the web process that received them: a few
    threads, each with the app's context; the credentials live only in the submitted call."""

    def __init__(self, app, threads: int):
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="copy")
        self.running: set = set()
        self.lock = threading.Lock()

    def submit(self, job_id: str, target: Target) -> None:
        future = self.pool.submit(self._run, job_id, target)
        with self.lock:
            self.running.add(future)
        future.add_done_callback(self._done)

    def _done(self, future) -> None:
        with self.lock:
            self.running.discard(future)

    def _run(self, job_id: str, target: Target) -> str:
        with self.app.app_context():
            return run(db.engine, self.app.extensions["rules"].current, job_id, target)

    def wait(self, timeout: float | None = None) -> None:
        """Until every submitted copy has ended (tests, and a graceful shutdown)."""
        with self.lock:
            pending = set(self.running)
        wait(pending, timeout=timeout)
