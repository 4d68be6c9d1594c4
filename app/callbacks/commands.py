"""``flask journal``: what waits in the spool, importing it, and replaying stored callbacks."""

from __future__ import annotations

from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup

from app.callbacks.pruning import prune_journal
from app.callbacks.recovery import bring_back

cli = AppGroup("journal", help="The callback journal.")


@cli.command("spool")
@click.option("--import", "do_import", is_flag=True, help="Move the spooled entries into the database.")
def spool_command(do_import: bool) -> None:
    """Show (or import) callbacks spooled while the database was unavailable."""
    spool = current_app.extensions["sinch_recorder"].spool
    if do_import:
        try:
            moved, _ = spool.import_waiting()
        except Exception as error:
            raise click.ClickException(
                f"the database is still unavailable ({type(error).__name__}); nothing was lost, try again later"
            )
        click.echo(f"imported {moved} spooled callback(s) into the journal")
        return
    entries = spool.waiting()
    where = f"Redis ({spool.key}) and {spool.folder}" if spool.redis is not None else str(spool.folder)
    click.echo(f"{len(entries)} callback(s) waiting in {where}")
    for record in entries:
        click.echo(f"  {record['received_at']}  {record.get('event') or '-':6}  {record.get('call_id') or '-'}  {record['outcome']}")
    if entries:
        click.echo("Run 'flask journal spool --import' once the database is back.")


def _moment(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("use ISO-8601, e.g. 2026-11-23T09:00:00Z", param_hint=name)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@cli.command("replay")
@click.option("--since", required=True, help="Replay callbacks received at or after this ISO-8601 time.")
@click.option("--until", help="… and before this time.")
@click.option("--call", "call_id", help="Only this call's callbacks.")
@click.option("--dry-run", is_flag=True, help="Say what would be applied; change nothing.")
def replay_command(since: str, until: str | None, call_id: str | None, dry_run: bool) -> None:
    """Re-drive stored DiCE and notify callbacks through their handlers (idempotent)."""
    start, end = _moment(since, "--since"), (_moment(until, "--until") if until else None)
    spool = current_app.extensions["sinch_recorder"].spool
    if not dry_run and spool.waiting():
        click.echo(f"imported {spool.import_waiting()[0]} spooled callback(s) first")
    settings = current_app.extensions["settings"]
    with click.progressbar(length=0, label="replaying") as bar:
        report = bring_back(start, end, call_id=call_id, dry_run=dry_run,
                            recording_deadline=settings.recording_deadline_seconds, progress=lambda: bar.update(1))
    verb = "would apply" if dry_run else "applied"
    click.echo(f"{report.seen} callback(s): {verb} {report.applied}, skipped {report.skipped}, "
               f"unreadable {report.unreadable}; {len(report.verify)} verification(s) "
               f"{'would be ' if dry_run else ''}queued")


@cli.command("prune")
@click.option("--older-than", "days", type=click.IntRange(min=1),
              help="Delete callbacks received more than this many days ago (default: JOURNAL_RETAIN_DAYS).")
@click.option("--dry-run", is_flag=True, help="Say how many would be deleted; delete nothing.")
def prune_command(days: int | None, dry_run: bool) -> None:
    """Delete old callbacks from the journal (the worker does it hourly, per JOURNAL_RETAIN_DAYS)."""
    days = days or current_app.extensions["settings"].journal_retain_days
    if not days:
        raise click.UsageError("JOURNAL_RETAIN_DAYS is 0 (the journal is kept for ever): "
                               "pass --older-than DAYS to prune it by hand")
    now = datetime.now(timezone.utc)
    due = prune_journal(days, now, dry_run=True)
    if dry_run:
        click.echo(f"{due} callback(s) received more than {days} day(s) ago would be deleted")
        return
    with click.progressbar(length=due, label="pruning the journal") as bar:
        deleted = prune_journal(days, now, progress=bar.update)
    click.echo(f"deleted {deleted} callback(s) received more than {days} day(s) ago")
