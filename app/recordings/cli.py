"""``flask recordings list|verify`` and ``flask destinations check``."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.api.schemas import RecordingSchema
from app.db import db
from app.recordings import status
from app.recordings.models import Recording

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
        note = row.failure_reason or row.destination_url
        click.echo(f"{row.id:32}  {row.status:9}  {row.requested_at:%Y-%m-%d %H:%M:%S}  "
                   f"{row.size_bytes if row.size_bytes is not None else '-':>9}  "
                   f"{row.duration_ms if row.duration_ms is not None else '-':>7}  {row.call_id}  {note}")


@recordings_cli.command("verify")
@click.argument("recording_id", required=False)
@click.option("--pending", is_flag=True, help="Every recording available but not yet verified.")
def verify_command(recording_id, pending) -> None:
    """Verify one recording now (again, even if verified), or all pending ones, with progress."""
    from app.recordings.tasks import verify_now

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
@click.option("--dry-run", is_flag=True, help="Say what is due; delete nothing.")
def purge_command(dry_run: bool) -> None:
    """Delete every recording past its rule's retain_days (not those under legal hold)."""
    from datetime import datetime, timezone

    from app.recordings.retention import due, purge

    now = datetime.now(timezone.utc)
    with db.engine.connect() as connection:
        count = len(due(connection, now))
    with click.progressbar(length=count, label=f"{count} recording(s) past retention") as bar:
        report = purge(current_app.extensions["rules"].current, now, dry_run=dry_run, progress=lambda: bar.update(1))
    click.echo(f"{report['due']} due" + ("" if dry_run else f", {report['deleted']} deleted, {report['failed']} failed"))
    for error in report["errors"][:20]:
        click.echo(f"  {error}")
    if report["failed"]:
        raise SystemExit(1)


@destinations_cli.command("check")
@click.argument("name")
def check_command(name) -> None:
    """Write a probe with Sinch's credentials, read it back with ours, delete it; say what failed."""
    from app.storage.preflight import check_destination

    destinations = current_app.extensions["rules"].current.destinations
    if name not in destinations:
        known = ", ".join(sorted(destinations)) or "none"
        raise click.ClickException(f"no destination {name!r} in the ruleset (known: {known})")
    report = check_destination(destinations[name])
    click.echo(f"destination {name}: probe {report.location}")
    for step in report.steps:
        mark = "✓" if step.ok else ("!" if step.name == "least privilege" else "✗")
        click.echo(f"  {mark} {step.name}: {step.detail}")
    if not report.ok:
        raise SystemExit(1)
    click.echo("OK: Sinch can record here and the service can prove it")
