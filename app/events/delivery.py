"""Webhook deliveries: at least once, each endpoint on its own, every attempt kept.

* **Fan-out.** When the sequencer numbers an event, each endpoint subscribed to its type gets a
  ``pending`` delivery, in the same transaction: once per event and endpoint (a unique pair).
* **Claims.** A sender owns a delivery by a conditional update that sets ``claimed_until`` (twice
  the timeout and 5 s ahead: the connect and the answer may each take the timeout); two senders
  never send one attempt at once, and a sender killed mid-attempt leaves a claim that runs out,
  so the delivery is tried again — never lost.
* **Retries.** Anything but a 2xx within ``WEBHOOK_TIMEOUT_SECONDS`` is retried after the next
  delay of ``WEBHOOK_RETRY_SCHEDULE`` (with ±20 % jitter); when the schedule is spent the
  delivery is ``failed``. :func:`next_delay` is the pure rule.
* **Order.** A recording's events reach an endpoint in their order: a delivery waits while an
  earlier event of its recording is pending for that endpoint (retries included).
* **Isolation.** :class:`Dispatcher` sends each endpoint's deliveries from threads of that
  endpoint's own (a few at a time, oldest first): a dead or slow endpoint fills only its own.
  Nothing here runs on the callback path.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping

import requests
from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from app.db import db
from app.events import log as event_log
from app.events import webhooks
from app.events.models import Event, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
_deliveries, _attempts, _events = WebhookDelivery.__table__, WebhookAttempt.__table__, Event.__table__
CLAIM_MARGIN = timedelta(seconds=5)
PER_ENDPOINT = 4  # attempts in flight per endpoint and process


def next_delay(failed_attempts: int, schedule: tuple[float, ...], rng: random.Random) -> float | None:
    """Seconds before the next attempt after ``failed_attempts`` failures; None: give up."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    return schedule[failed_attempts - 1] * rng.uniform(0.8, 1.2)


def _pending(event_id: str, endpoint: str, now: datetime) -> dict:
    """A new delivery row, due ``now``."""
    return {"id": uuid.uuid4().hex, "event_id": event_id, "endpoint": endpoint, "status": PENDING, "attempts": 0,
            "created_at": now, "next_attempt_at": now}


def fan_out(endpoints: Mapping, now: datetime) -> Callable[[Connection, list], None]:
    """The sequencer's hook: each numbered event's deliveries, one per subscribed endpoint, due ``now``."""
    def create(connection: Connection, rows: list) -> None:
        new = [_pending(row["id"], name, now)
               for row in rows for name, endpoint in endpoints.items() if webhooks.wants(endpoint.events, row["type"])]
        if new:
            connection.execute(insert(_deliveries), new)
    return create


def number(engine: Engine, endpoints: Mapping, now: datetime | None = None) -> int:
    """Number the committed events (:func:`app.events.log.sequence`), each fanned out to the
    endpoints that take it as it is: what every reader that numbers calls (the dispatcher, the
    feed, the transparency log's appender). How many were numbered."""
    return event_log.sequence(engine, fan_out(endpoints, now or datetime.now(timezone.utc)))


def due(connection: Connection, now: datetime, endpoint: str, limit: int) -> list[str]:
    """An endpoint's deliveries that may be tried now, oldest event first; one whose recording has
    an earlier event still pending for this endpoint waits for it (a receiver hears a recording's
    events in their order: never verified before available)."""
    earlier, before = _deliveries.alias("earlier"), _events.alias("before")
    waiting_behind = select(earlier.c.id).join(before, before.c.id == earlier.c.event_id).where(
        earlier.c.endpoint == _deliveries.c.endpoint, earlier.c.status == PENDING,
        before.c.recording_id == _events.c.recording_id, before.c.seq < _events.c.seq).exists()
    return connection.execute(select(_deliveries.c.id).join(_events, _events.c.id == _deliveries.c.event_id).where(
        _deliveries.c.endpoint == endpoint, _deliveries.c.status == PENDING, _deliveries.c.next_attempt_at <= now,
        or_(_deliveries.c.claimed_until.is_(None), _deliveries.c.claimed_until < now), ~waiting_behind)
        .order_by(_events.c.seq).limit(limit)).scalars().all()


def claim(engine: Engine, delivery_id: str, now: datetime, lease: timedelta) -> bool:
    """Own one delivery until ``now + lease``, if nobody does and it is still due."""
    with engine.begin() as connection:
        return connection.execute(update(_deliveries).where(
            _deliveries.c.id == delivery_id, _deliveries.c.status == PENDING, _deliveries.c.next_attempt_at <= now,
            or_(_deliveries.c.claimed_until.is_(None), _deliveries.c.claimed_until < now))
            .values(claimed_until=now + lease)).rowcount == 1


def attempt(engine: Engine, delivery_id: str, endpoint, send: Callable, schedule: tuple[float, ...],
            rng: random.Random, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
            ) -> webhooks.Outcome | None:
    """Try one claimed delivery: send it, keep the attempt, then deliver, reschedule or fail."""
    with engine.connect() as connection:
        row = connection.execute(select(_deliveries, _events.c.type, _events.c.created_at.label("event_at"),
                                        _events.c.data)
                                 .join(_events, _events.c.id == _deliveries.c.event_id)
                                 .where(_deliveries.c.id == delivery_id)).mappings().first()
    if row is None or row["status"] != PENDING:
        return None
    event = event_log.as_json({"id": row["event_id"], "type": row["type"], "created_at": row["event_at"],
                               "data": row["data"]})
    outcome = send(endpoint, event)
    now = clock()
    number = row["attempts"] + 1
    values: dict = {"attempts": number, "last_attempt_at": now, "claimed_until": None, "last_error": outcome.error}
    if outcome.delivered:
        values.update(status=DELIVERED, delivered_at=now, next_attempt_at=None)
    else:
        delay = next_delay(number, schedule, rng)
        if delay is None:
            values.update(status=FAILED, next_attempt_at=None)
        else:
            values["next_attempt_at"] = now + timedelta(seconds=delay)
    with engine.begin() as connection:
        connection.execute(insert(_attempts).values(
            id=uuid.uuid4().hex, delivery_id=delivery_id, number=number, at=now, status_code=outcome.status_code,
            duration_ms=outcome.millis, error=(outcome.error or None) and outcome.error[:500]))
        connection.execute(update(_deliveries).where(_deliveries.c.id == delivery_id,
                                                     _deliveries.c.status == PENDING).values(**values))
    if not outcome.delivered:
        log.warning("webhook delivery failed", extra={"endpoint": endpoint.name, "event_id": row["event_id"],
                                                      "attempt": number, "reason": outcome.error,
                                                      "final": values.get("status") == FAILED})
    return outcome


def redeliver(connection: Connection, event_id: str, endpoints: Mapping, now: datetime) -> int:
    """Try an event again at every endpoint subscribed to it (a new round of attempts); how many."""
    row = connection.execute(select(_events.c.type).where(_events.c.id == event_id)).first()
    if row is None:
        return 0
    count = 0
    for name, endpoint in endpoints.items():
        if not webhooks.wants(endpoint.events, row.type):
            continue
        known = connection.execute(update(_deliveries).where(
            _deliveries.c.event_id == event_id, _deliveries.c.endpoint == name)
            .values(status=PENDING, next_attempt_at=now, claimed_until=None)).rowcount
        if not known:
            connection.execute(insert(_deliveries).values(**_pending(event_id, name, now)))
        count += 1
    return count


class Dispatcher:
    """Numbers new events, fans them out, and sends what is due, each endpoint from its own threads.

    ``tick()`` does one round and returns at once (the sends run on); the worker calls it every
    ``WEBHOOK_POLL_SECONDS`` from a thread of its own (:meth:`run`)."""

    def __init__(self, engine: Engine, endpoints: Callable[[], Mapping], settings,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.engine, self.endpoints, self.settings, self.clock = engine, endpoints, settings, clock
        self.rng = random.Random()
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment between us and the receiver
        self.pools: dict[str, ThreadPoolExecutor] = {}
        self.in_flight: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def send(self, endpoint, event: dict) -> webhooks.Outcome:
        try:
            webhooks.vet(endpoint.url, allow_http=self.settings.webhooks_allow_http,
                         allow_hosts=self.settings.webhooks_allow_hosts)
        except webhooks.Refused as error:
            return webhooks.Outcome(None, 0, f"refused: {error}")
        body = webhooks.body_of(event)
        sent = webhooks.headers(endpoint.key, event["id"], int(time.time()), body)
        return webhooks.send(self.session, endpoint.url, body, sent, self.settings.webhook_timeout_seconds)

    def tick(self) -> int:
        """One round: sequence, then start what is due; how many attempts were started."""
        endpoints = self.endpoints()
        number(self.engine, endpoints, self.clock())
        started = 0
        for name, endpoint in endpoints.items():
            with self.lock:
                room = PER_ENDPOINT - self.in_flight.get(name, 0)
            if room <= 0:
                continue  # this endpoint is busy (slow or dead): the others go on
            for delivery_id in self._claim(name, room):
                with self.lock:
                    self.in_flight[name] = self.in_flight.get(name, 0) + 1
                if name not in self.pools:  # (setdefault would build an executor every time)
                    self.pools[name] = ThreadPoolExecutor(PER_ENDPOINT, thread_name_prefix=f"webhook-{name}")
                self.pools[name].submit(self._attempt, delivery_id, endpoint)
                started += 1
        return started

    def _attempt(self, delivery_id: str | None, endpoint) -> None:
        """Send this delivery, then the endpoint's next due one, and so on: a backlog drains at the
        endpoint's pace, not one round's worth a poll."""
        try:
            while delivery_id is not None and not self.stopped.is_set():
                attempt(self.engine, delivery_id, endpoint, self.send, self.settings.webhook_retry_schedule,
                        self.rng, self.clock)
                delivery_id = next(iter(self._claim(endpoint.name, 1)), None)
        except Exception:  # noqa: BLE001 — the claim runs out and the delivery is tried again
            log.exception("webhook attempt failed unexpectedly", extra={"endpoint": endpoint.name})
        finally:
            with self.lock:
                self.in_flight[endpoint.name] -= 1

    def _claim(self, name: str, wanted: int) -> list[str]:
        """Up to ``wanted`` of the endpoint's due deliveries, claimed (one another sender took is skipped)."""
        now, claimed = self.clock(), []
        with self.engine.connect() as connection:
            candidates = due(connection, now, name, PER_ENDPOINT)
        for one in candidates:
            if len(claimed) == wanted:
                break
            if claim(self.engine, one, now, self._lease()):
                claimed.append(one)
        return claimed

    def _lease(self) -> timedelta:
        """How long a claim holds: an attempt's connect and its answer may each take the timeout."""
        return 2 * timedelta(seconds=self.settings.webhook_timeout_seconds) + CLAIM_MARGIN

    def drain(self) -> None:
        """Wait for the attempts started so far (tests, and a worker stopping)."""
        for pool in list(self.pools.values()):
            pool.shutdown(wait=True)
        self.pools.clear()

    def start(self) -> threading.Thread:
        """Run :meth:`run` in a daemon thread of this process (the worker's)."""
        thread = threading.Thread(target=self.run, name="webhook-dispatcher", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 — a database away: the next round tries again
                log.exception("webhook dispatch round failed")
            self.stopped.wait(self.settings.webhook_poll_seconds)


def dispatcher(app) -> Dispatcher:
    """The app's dispatcher: its database, the live ruleset's endpoints, its settings."""
    with app.app_context():
        engine = db.engine
    holder = app.extensions["rules"]
    return Dispatcher(engine, lambda: holder.current.webhooks, app.extensions["settings"])
