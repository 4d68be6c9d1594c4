"""``flask rules check`` and ``flask rules explain``.

The group is a Flask command plugin (see ``pyproject.toml``), so ``check`` runs even when the
configured ruleset is broken and the app itself would refuse to start.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import click
from flask.cli import ScriptInfo

from app.db import db
from app.journal import JournalEntry
from app.rules.decide import amd_status, decide, masked, pending_recording
from app.rules.engine import Facts, explain
from app.rules.loader import rules_path
from app.rules.model import Ruleset
from app.rules.schema import AMD_STATUSES, RulesError, load_ruleset
from app.settings import SettingsError, load_settings
from app.sidecar.merge import merge
from app.sinch.events import DOMAINS, TO_TYPES, CallbackError, guess_to_type, parse_callback
from app.sinch.options import CALL_HEADER
from app.sinch.svaml import SvamlError, render


@click.group("rules", help="The recording ruleset: check a file, explain a decision.")
def cli() -> None:
    pass


def _settings():
    try:
        return load_settings(os.environ)
    except SettingsError as error:
        raise click.ClickException(str(error))


def _ruleset(path: str | None) -> Ruleset:
    settings = _settings()
    target = Path(path) if path else rules_path(settings.rules_file)
    try:
        return load_ruleset(target, os.environ, allow_literal_credentials=settings.rules_allow_literal_credentials)
    except RulesError as error:
        raise click.ClickException(f"{error}\nFix the lines above and run 'flask rules check' again.")


@cli.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def check_command(file: str | None) -> None:
    """Validate FILE (default: RULES_FILE); exit 1 listing every problem."""
    ruleset = _ruleset(file)
    click.echo(f"{ruleset.source}: OK — {len(ruleset.rules)} rules, {len(ruleset.destinations)} destinations, "
               f"hash {ruleset.hash}")
    click.echo(f"sensitive input: {describe_sensitive(ruleset.sensitive)}")
    for rule in ruleset.rules:
        if rule.sensitive is not None:
            click.echo(f"  rule {rule.id}: {describe_sensitive(rule.sensitive)}")
    for name, endpoint in sorted(ruleset.webhooks.items()):  # the secret is never shown
        click.echo(f"webhook {name}: {endpoint.url} ({', '.join(endpoint.events) or 'every event'})")


def describe_sensitive(policy) -> str:
    """One line: which menus are sensitive, and whether recordings pause for them."""
    named = ", ".join(sorted(policy.menus)) or "none named"
    guess = f"maxDigits >= {policy.min_digits}" if policy.min_digits else "no maxDigits guess"
    pause = "recording paused" if policy.pause_recording else "recording NOT paused"
    return f"menus {named}; {guess}; digits redacted; {pause}"


def _when(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("use ISO-8601, e.g. 2026-11-23T09:30:00+01:00", param_hint="--at")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@cli.command("explain")
@click.option("--event", "kind", type=click.Choice(["ice", "ace", "pie"]), default="ice", show_default=True)
@click.option("--cli", "cli_number", help="The caller's number (ICE cli).")
@click.option("--to", "to", help="The dialled number, app user or SIP address.")
@click.option("--to-type", type=click.Choice(TO_TYPES), help="Default: guessed from --to.")
@click.option("--domain", type=click.Choice(DOMAINS), default="pstn", show_default=True)
@click.option("--header", "headers", multiple=True, type=CALL_HEADER, help="A call header (repeatable).")
@click.option("--custom", help="The ICE custom field.")
@click.option("--application-key", help="The application key of the call.")
@click.option("--call-id", "callid", default="explain-call", show_default=True,
              help="Call id (affects sampling and keys).")
@click.option("--at", "at", help="When the call happens (ISO-8601); default now.")
@click.option("--amd", type=click.Choice(AMD_STATUSES), help="With --event ace: the answering-machine verdict.")
@click.option("--call", "replay_call", help="Replay the journaled callbacks of this call instead.")
@click.option("--rules", "draft", type=click.Path(exists=True, dir_okay=False), help="A draft ruleset to use.")
@click.pass_context
def explain_command(ctx, kind, cli_number, to, to_type, domain, headers, custom, application_key, callid, at,
                    amd, replay_call, draft) -> None:
    """Show which rule answers a call, why earlier rules did not, and the SVAML (credentials masked)."""
    ruleset = _ruleset(draft)
    if replay_call:
        _replay(ctx, replay_call, ruleset)
        return
    event = {"event": kind, "callid": callid, "domain": domain,
             "origination_type": "PSTN" if domain == "pstn" else "MXP"}
    if cli_number:
        event["cli"] = cli_number
    if to:
        event["to"] = {"type": to_type or guess_to_type(to), "endpoint": to}
    if custom:
        event["custom"] = custom
    if application_key:
        event["application_key"] = application_key
    if headers:
        event["call_headers"] = [{"key": name, "value": value} for name, value in headers]
    if amd:
        event["amd"] = {"status": amd}
    moment = _when(at)
    facts = Facts.from_ice(event) if kind == "ice" else Facts(event=kind, call_id=callid, origin="callout",
                                                             application_key=application_key,
                                                             amd=amd_status(event) if kind == "ace" else None)
    click.echo(f"ruleset {ruleset.source} (hash {ruleset.hash}), at {moment.isoformat()}")
    for rule, matched, why in explain(ruleset.rules, facts, moment):
        if matched is None:
            click.echo(f"  ✗ {rule.id}: {why}")
        else:
            shown = ", ".join(f"{k}={v}" for k, v in matched.items()) or "no conditions (default)"
            click.echo(f"  ✓ {rule.id}: matched ({shown})")
    decision = decide(event, ruleset, moment, None, new_id=lambda: "<uuid>")
    _show_decision(decision, kind)
    click.echo(f"sensitive input: {describe_sensitive(ruleset.sensitive_for(decision.rule_id))}")


def _show_decision(decision, kind: str) -> None:
    click.echo(f"rule: {decision.rule_id or '(none: continue)'}; consent: {decision.consent}")
    if decision.problem:
        click.echo(f"problem: {decision.problem}; the call is answered otherwise")
    for recording in decision.recordings:
        click.echo(f"records: {recording.url} ({recording.format}, {recording.mode}, segment {recording.segment})")
    if not decision.recordings:
        click.echo("records: nothing" + (" yet (waits for the caller's consent)" if decision.consent == "pending" else ""))
    try:
        render(decision.svaml, kind)
    except SvamlError as error:
        click.echo(f"WARNING: Sinch would reject this reply: {error}")
    click.echo(json.dumps(masked(decision.svaml), indent=2))


def _merged(decision, event, ruleset: Ruleset, row, call, upstream_reply: dict):
    """What sidecar mode makes of the stored upstream reply with ``ruleset``'s recording, and how
    it merged (None: nothing to add)."""
    part = decision.part if event["event"] == "ice" else pending_recording(
        event, ruleset, row.received_at, call, new_id=lambda: "<uuid>")
    if part is None:
        return replace(decision, svaml=upstream_reply, recordings=()), None
    merged, planned, how = merge(upstream_reply, part)
    return replace(decision, svaml=merged, recordings=(planned,) if planned else ()), how


def _replay(ctx, call_id: str, ruleset: Ruleset) -> None:
    """Decide again, with ``ruleset``, every stored ICE/ACE/PIE of the call; say what changes."""
    app = ctx.ensure_object(ScriptInfo).load_app()
    with app.app_context():
        rows = list(db.session.scalars(
            db.select(JournalEntry).where(JournalEntry.call_id == call_id, JournalEntry.status_code == 200,
                                          JournalEntry.event.in_(("ice", "ace", "pie"))).order_by(JournalEntry.id)))
    if not rows:
        raise click.ClickException(f"no answered ICE/ACE/PIE of call {call_id} in the journal; "
                                   "check the call id with 'flask recordings list' or the journal")
    click.echo(f"replaying {len(rows)} callback(s) of {call_id} against {ruleset.source} (hash {ruleset.hash})")
    call: dict | None = None
    changes = 0
    for row in rows:
        try:
            event = parse_callback(row.body)
        except CallbackError as error:
            click.echo(f"  {row.event} at {row.received_at}: cannot be parsed again ({error.message})")
            continue
        decision = decide(event, ruleset, row.received_at, call, new_id=lambda: "<uuid>")
        upstream_reply, how = (row.upstream or {}).get("reply"), None
        if upstream_reply is not None:  # sidecar: the rules' recording merged into what the upstream said
            decision, how = _merged(decision, event, ruleset, row, call, upstream_reply)
        if event["event"] == "ice":
            call = decision.call_state()
        elif decision.consent in ("accepted", "declined") and call is not None:
            call["consent"] = decision.consent
        then = (row.decision or {}).get("rule_id") or row.rule_id
        now_reply = json.dumps(masked(decision.svaml), sort_keys=True)
        then_reply = json.dumps(json.loads(row.reply), sort_keys=True) if row.reply else None
        same = then == decision.rule_id and then_reply == now_reply
        changes += not same
        click.echo(f"  {row.event} at {row.received_at:%Y-%m-%d %H:%M:%S}: was rule {then or '-'}, "
                   f"now rule {decision.rule_id or '-'} — {'unchanged' if same else 'CHANGES'}")
        if upstream_reply is not None:
            click.echo(f"    upstream replied: {json.dumps(upstream_reply, sort_keys=True)}")
            click.echo(f"    merge: {how or 'nothing to add'}")
        if not same:
            click.echo(f"    was: {then_reply}")
            click.echo(f"    now: {now_reply}")
    click.echo(f"{changes} of {len(rows)} replies would change"
               + (" (keys with {uuid} differ on every decision)" if changes else ""))
