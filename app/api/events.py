"""``/api/v1/events`` (the feed, an event with its deliveries, redelivery) and ``/api/v1/webhooks``
(each endpoint's health): thin views over ``app.events``."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app
from marshmallow import RAISE
from flask_smorest import abort

from app.api.routes import api_blueprint
from app.api.schemas import (
    EventDetailSchema,
    EventListArgs,
    EventPageSchema,
    RedeliveredSchema,
    WebhookListSchema,
)
from app.db import db
from app.events import delivery, feed
from app.events import log as event_log

blp, fails = api_blueprint("events", __name__, "The catalogue's events and their webhooks")


def _endpoints():
    return current_app.extensions["rules"].current.webhooks


@blp.get("/events")
@blp.arguments(EventListArgs, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, EventPageSchema)
@fails()
def list_events(args: dict):
    """The feed, oldest first: page with ``cursor`` and keep ``paging.next_cursor`` to read on later.
    A reader never misses an event: each is numbered only once it has committed."""
    events, position, more = feed.page(db.engine, _endpoints(), after=args.get("cursor") or 0, limit=args["limit"],
                                       types=args.get("type"), recording_id=args.get("recording_id"),
                                       call_id=args.get("call_id"), since=args.get("since"))
    return {"data": events, "paging": {"next_cursor": position, "has_more": more}}


@blp.get("/events/<string:event_id>")
@blp.response(200, EventDetailSchema)
@fails(404)
def get_event(event_id: str):
    """One event with its delivery to each webhook endpoint and every attempt."""
    with db.engine.connect() as connection:
        shown = feed.detail(connection, event_id)
    if shown is None:
        abort(404, message=f"no event {event_id}; list them at /api/v1/events")
    return shown


@blp.post("/events/<string:event_id>/redeliver")
@blp.response(202, RedeliveredSchema)
@fails(404)
def redeliver(event_id: str):
    """Send an event again to every endpoint subscribed to it (delivered or not): the worker does it."""
    with db.engine.begin() as connection:
        if event_log.one(connection, event_id) is None:
            abort(404, message=f"no event {event_id}; list them at /api/v1/events")
        count = delivery.redeliver(connection, event_id, _endpoints(), datetime.now(timezone.utc))
    return {"event_id": event_id, "deliveries": count}


@blp.get("/webhooks")
@blp.response(200, WebhookListSchema)
@fails()
def list_webhooks():
    """Each endpoint of the ruleset's ``webhooks:``: last success, failing since, deliveries pending."""
    with db.engine.connect() as connection:
        return {"data": feed.health(connection, _endpoints(), datetime.now(timezone.utc))}
