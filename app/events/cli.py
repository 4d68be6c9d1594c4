"""``flask webhooks``: the ruleset's endpoints, a test delivery to one, a new secret."""

from __future__ import annotations

import base64
import os
import time
import uuid
from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup

from app.events import log as event_log
from app.events.delivery import dispatcher
from app.events.types import TEST

cli = AppGroup("webhooks", help="Webhook endpoints of the ruleset (the events they are sent).")


@cli.command("list")
def list_command() -> None:
    """The endpoints of the ruleset in use and the events each takes. Secrets are never shown."""
    endpoints = current_app.extensions["rules"].current.webhooks
    click.echo(f"{len(endpoints)} webhook endpoint(s)")
    for name, endpoint in sorted(endpoints.items()):
        click.echo(f"  {name}: {endpoint.url}  events: {', '.join(endpoint.events) or 'all'}")


@cli.command("check")
@click.argument("name")
def check_command(name) -> None:
    """Send a webhook.test event to endpoint NAME, signed as every delivery is; print the answer
    and how long it took. Nothing is kept."""
    endpoints = current_app.extensions["rules"].current.webhooks
    if name not in endpoints:
        known = ", ".join(sorted(endpoints)) or "none"
        raise click.ClickException(f"no webhook endpoint {name!r} in the ruleset (known: {known}); add it under "
                                   "webhooks: and run flask rules check")
    endpoint = endpoints[name]
    event = {"id": event_log.new_id(), "type": TEST, "timestamp": event_log.rfc3339(datetime.now(timezone.utc)),
             "data": {"endpoint": name, "check": uuid.uuid4().hex}}
    click.echo(f"sending {TEST} {event['id']} to {name} ({endpoint.url}) …")
    started = time.monotonic()
    outcome = dispatcher(current_app).send(endpoint, event)
    if outcome.delivered:
        click.echo(f"ok: HTTP {outcome.status_code} in {outcome.millis} ms")
        return
    raise click.ClickException(f"{name} did not take it ({outcome.error}) after "
                               f"{int((time.monotonic() - started) * 1000)} ms; the receiver must answer 2xx within "
                               "WEBHOOK_TIMEOUT_SECONDS")


@cli.command("secret")
def secret_command() -> None:
    """Print a new endpoint secret (whsec_ and 32 random bytes, base64): give it to the receiver and
    set it where the service runs (e.g. heroku config:set CRM_WEBHOOK_SECRET=…)."""
    click.echo("whsec_" + base64.b64encode(os.urandom(32)).decode())
