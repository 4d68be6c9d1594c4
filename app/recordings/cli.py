"""``flask recordings list|show|download|copy|delete|verify|purge`` and ``flask destinations check``."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.recordings.representation import RecordingSchema
from app.db import db
from app.recordings import status
from app.recordings.copies import SUCCEEDED, CopyRefused, create, run
from app.recordings.models import CopyJob, Recording
from app.recordings.retention import Held, NotDeletable, delete, due, purge
from app.recordings.tasks import verify_now
from app.storage import StorageError
from app.storage.lookup import recording_backend
from app.storage.preflight import check_destination

recordings_cli = AppGroup("recordings", help="The recording catalogue.")
destinations_cli = AppGroup("destinations", help="Storage destinations of the ruleset.")


@recordings_cli.command("list")
@click.option("--status", "wanted", type=click.Choice(status.STATUSES), help="Only recordings in this status.")
@click.option("--call", "call_id", help="Only this call's recordings.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, with every field.")
def list_command(wanted, call_id, limit, as_json) -> None:
    """List recordings, newest first."""
    query = select(Recording).order_by(Recording.requested_at.desc(), Recording.id.desc()).limit(limit)
    if wanted:
        query = query.where(Recording.status == wanted)
    if call_id:
        query = query.where(Recording.call_id == call_id)
    rows = list(db.session.scalars(query))
    schema = RecordingSchema()
    if as_json:
        for row in rows:
            click.echo(json.dumps(schema.dump(row)))
        return
    if not rows:
        click.echo("no recordings" + (f" in status {wanted}" if wanted else ""))
        return
    click.echo(f"{'id':32}  {'status':9}  {'requested (UTC)':19}  {'size':>9}  {'ms':>7}  call / note")
    for row in rows:
        note = row.failure_reason or (f"waiting: {row.pending_reason}" if row.pending_reason else row.destination_url)
        click.echo(f"{row.id:32}  {row.status:9}  {row.requested_at:%Y-%m-%d %H:%M:%S}  "
                   f"{row.size_bytes if row.size_bytes is not None else '-':>9}  "
                   f"{row.duration_ms if row.duration_ms is not None else '-':>7}  {row.call_id}  {note}")


@recordings_cli.command("verify")
@click.argument("recording_id", required=False)
@click.option("--pending", is_flag=True, help="Every recording available but not yet verified.")
def verify_command(recording_id, pending) -> None:
    """Verify one recording now (again, even if verified), or all pending ones, with progress."""
    if bool(recording_id) == pending:
        raise click.UsageError("give a recording id or --pending (not both)")
    if recording_id:
        if db.session.get(Recording, recording_id) is None:
            raise click.ClickException(f"no recording {recording_id}; see 'flask recordings list'")
        result = verify_now(recording_id, force=True)
        db.session.expire_all()
        row = db.session.get(Recording, recording_id)
        click.echo(f"{recording_id}: {result}" + (f" — {row.failure_reason}" if row.failure_reason else ""))
        if result == status.FAILED:
            raise SystemExit(1)
        return
    ids = list(db.session.scalars(select(Recording.id).where(Recording.status == status.AVAILABLE)))
    results: dict[str, int] = {}
    with click.progressbar(ids, label=f"verifying {len(ids)} recording(s)", show_pos=True) as bar:
        for identifier in bar:
            outcome = verify_now(identifier)
            results[outcome] = results.get(outcome, 0) + 1
    click.echo(", ".join(f"{count} {outcome}" for outcome, count in sorted(results.items())) or "nothing pending")
    if results.get(status.FAILED):
        click.echo("see why with: flask recordings list --status failed")


@recordings_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="List what is due (id, call, key, retain_until); delete nothing.")
def purge_command(dry_run: bool) -> None:
    """Delete every recording past its rule's retain_days (not those under legal hold)."""
    now = datetime.now(timezone.utc)
    with db.engine.connect() as connection:
        ids = due(connection, now)
    if dry_run:
        rows = db.session.scalars(select(Recording).where(Recording.id.in_(ids))
                                  .order_by(Recording.retain_until, Recording.id)).all()
        click.echo(f"{len(rows)} recording(s) past retention would be deleted:")
        for row in rows:
            click.echo(f"  {row.id}  call {row.call_id}  {row.destination_url}  retain_until {row.retain_until:%Y-%m-%d %H:%M}")
        return
    with click.progressbar(length=len(ids), label=f"{len(ids)} recording(s) past retention") as bar:
        report = purge(current_app.extensions["rules"].current, now, dry_run=dry_run, progress=lambda: bar.update(1))
    click.echo(f"{report['due']} due" + ("" if dry_run else f", {report['deleted']} deleted, {report['failed']} failed"))
    for error in report["errors"][:20]:
        click.echo(f"  {error}")
    if report["failed"]:
        raise SystemExit(1)


def _recording_or_exit(recording_id: str) -> Recording:
    row = db.session.get(Recording, recording_id)
    if row is None:
        raise click.ClickException(f"no recording {recording_id}; see 'flask recordings list'")
    return row


@recordings_cli.command("show")
@click.argument("recording_id")
def show_command(recording_id) -> None:
    """One recording with its proof, as JSON."""
    click.echo(json.dumps(RecordingSchema().dump(_recording_or_exit(recording_id)), indent=2))


@recordings_cli.command("download")
@click.argument("recording_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Where to write it (default: the file's own name, here).")
def download_command(recording_id, output) -> None:
    """Download a verified recording, checking its SHA-256 on the way, with progress."""
    row = _recording_or_exit(recording_id)
    if row.status != status.VERIFIED:
        raise click.ClickException(f"recording {recording_id} is {row.status}: only verified recordings are "
                                   f"downloaded (try 'flask recordings verify {recording_id}')")
    output = output or posixpath.basename(row.destination_url)
    partial, digest = f"{output}.part", hashlib.sha256()
    try:
        backend, location = recording_backend(current_app.extensions["rules"].current, row)
        with open(partial, "wb") as file, click.progressbar(length=row.size_bytes or 0, label=output) as bar:
            for chunk in backend.open(location):
                file.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    except (StorageError, OSError) as error:
        if os.path.exists(partial):
            os.remove(partial)
        raise click.ClickException(f"download failed: {error}") from None
    if digest.hexdigest() != row.sha256:
        os.remove(partial)
        raise click.ClickException(f"the file's SHA-256 is {digest.hexdigest()}, not the verified {row.sha256}: "
                                   f"it changed in the store; run 'flask recordings verify {recording_id}'")
    os.replace(partial, output)
    click.echo(f"{output}: {row.size_bytes} bytes, SHA-256 {row.sha256} (matches the catalogue)")


@recordings_cli.command("copy")
@click.argument("recording_id")
@click.option("--destination", required=True, help="A destination profile of the ruleset.")
@click.option("--key", help="The key there (default: the source's own; ending in / : a folder).")
def copy_command(recording_id, destination, key) -> None:
    """Copy a verified recording to a destination profile now, with progress; the copy is
    verified and catalogued (for a bucket outside the ruleset, use the API)."""
    row = _recording_or_exit(recording_id)
    ruleset = current_app.extensions["rules"].current
    try:
        job_id, target = create(db.engine, ruleset, recording_id, requested_by="cli", destination=destination,
                                key=key)
    except CopyRefused as error:
        raise click.ClickException(str(error)) from None
    with click.progressbar(length=row.size_bytes or 0, label=f"copying to {target.location.uri}") as bar:
        seen = [0]

        def advance(done: int) -> None:
            bar.update(done - seen[0])
            seen[0] = done

        outcome = run(db.engine, ruleset, job_id, progress=advance)
    db.session.expire_all()
    job = db.session.get(CopyJob, job_id)
    if outcome != SUCCEEDED:
        raise click.ClickException(f"copy failed: {job.error}")
    click.echo(f"copied ({job.method}) and verified: recording {job.copy_id} at {job.target_url}")


@recordings_cli.command("delete")
@click.argument("recording_id")
@click.option("--reason", required=True, help="Why (kept in the deletion receipt).")
def delete_command(recording_id, reason) -> None:
    """Delete the file, then mark the recording deleted with a receipt (refused under legal hold)."""
    _recording_or_exit(recording_id)
    try:
        receipt = delete(db.engine, current_app.extensions["rules"].current, recording_id, by="cli", reason=reason)
    except (Held, NotDeletable) as error:
        raise click.ClickException(str(error)) from None
    except StorageError as error:
        raise click.ClickException(f"the file could not be deleted, so the recording was kept: {error}") from None
    click.echo(f"deleted {recording_id} ({receipt['object_was']}); receipt: {json.dumps(receipt)}")


@destinations_cli.command("list")
def list_destinations_command() -> None:
    """The destinations of the ruleset in use: name, URL template, format and what is configured.

    Credentials are named, never shown.
    """
    holder = current_app.extensions["rules"]
    destinations = holder.current.destinations
    click.echo(f"{len(destinations)} destination(s) in {holder.path}{' (the DEMO ruleset)' if holder.demo else ''}")
    def named(section) -> str:
        return ", ".join(sorted(key for key, value in section.items() if value)) or "none"

    for name, destination in sorted(destinations.items()):
        sinch = "set" if destination.sinch_credentials else "none (a copy target only)"
        copies = f"write: {named(destination.write)}" if destination.write else "read: (no write: section)"
        click.echo(f"  {name}: {destination.url.template.text} ({destination.format}); "
                   f"sinch_credentials: {sinch}; read: {named(destination.read)}; copies write with {copies}")


@destinations_cli.command("check")
@click.argument("name")
@click.option("--wait", type=click.FloatRange(0, 3600), default=0, show_default=True,
              help="Seconds to keep trying while the store cannot be written yet (starting up, no bucket yet).")
def check_command(name, wait) -> None:
    """Write a probe with Sinch's credentials, read it back with ours, delete it; say what failed."""
    destinations = current_app.extensions["rules"].current.destinations
    if name not in destinations:
        known = ", ".join(sorted(destinations)) or "none"
        raise click.ClickException(f"no destination {name!r} in the ruleset (known: {known})")
    deadline = time.monotonic() + wait
    report = check_destination(destinations[name])
    if not report.ok and time.monotonic() < deadline:
        click.echo(f"waiting up to {wait:.0f} s for {name} to take a write ({report.steps[0].detail.split('. ')[0]})")
    while not report.ok and report.steps[0].ok is False and time.monotonic() < deadline:
        time.sleep(0.5)
        report = check_destination(destinations[name])
    click.echo(f"destination {name}: probe {report.location}")
    for step in report.steps:
        mark = "✓" if step.ok else ("!" if step.name == "least privilege" else "✗")
        click.echo(f"  {mark} {step.name}: {step.detail}")
    if not report.ok:
        raise SystemExit(1)
    click.echo("OK: Sinch can record here and the service can prove it")
