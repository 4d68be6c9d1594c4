"""Prometheus metrics: every counter and histogram the service exports, declared once.

Under gunicorn each worker process counts for itself; with ``PROMETHEUS_MULTIPROC_DIR`` set (the
gunicorn config does it) ``/metrics`` adds them up across processes, the huey worker's included
when it runs on the same machine. Gauges that describe shared state (recordings by status, queue
depth) are computed at scrape time by :class:`StateCollector`.
"""

import logging
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

log = logging.getLogger(__name__)

CALLBACKS = Counter(
    "sinch_callbacks_total", "Callbacks received, by event and outcome", ["event", "outcome"]
)
SIGNATURE_FAILURES = Counter(
    "sinch_signature_failures_total", "Callbacks refused for their signature, by reason", ["reason"]
)
FALLBACK_REPLIES = Counter(
    "sinch_fallback_replies_total", "ICE/ACE/PIE answered with the fallback reply", ["event"]
)
JOURNAL_QUARANTINED = Counter(
    "sinch_journal_quarantined_total", "Spooled callbacks set aside because they can never be imported"
)
JOURNAL_FAILURES = Counter(
    "sinch_journal_failures_total", "Callbacks that could not be written to the journal database"
)
REPLY_SECONDS = Histogram(
    "sinch_callback_reply_seconds", "Time to answer a callback", ["event"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
UPSTREAM_REQUESTS = Counter(
    "sinch_upstream_requests_total", "Callbacks forwarded to the upstream (sidecar), by event and outcome",
    ["event", "outcome"],
)
UPSTREAM_SECONDS = Histogram(
    "sinch_upstream_seconds", "Time the upstream took to answer", ["event"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
VERIFICATIONS = Counter(
    "sinch_verifications_total", "Recording verifications, by outcome (verified, failed, retry)", ["outcome"]
)
CHECKS_REQUEUED = Counter(
    "sinch_checks_requeued_total", "Checks the sweeper queued again because nothing was heard of them "
    "for VERIFY_STALE_SECONDS (their worker died)"
)
VERIFY_SECONDS = Histogram(
    "sinch_verification_seconds", "Time to verify one recording (stat, stream, hash, probe)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


class SharedCounts:
    """What the worker counts, shared through the queue's Redis so that every web dyno's
    ``/metrics`` shows it (a dyno's prometheus counters stay with its own processes).

    Without Redis the counts are not shared: on one machine, the worker's own counters are the
    ones above. A failing Redis never fails the work that was being counted.
    """

    def __init__(self, redis=None, key: str = "sinch-recorder:metrics"):
        self.redis, self.key = redis, key

    def add(self, field: str, amount: float = 1.0) -> None:
        if self.redis is None:
            return
        try:
            self.redis.hincrbyfloat(self.key, field, amount)
        except Exception as error:  # noqa: BLE001 — a metric is never worth a failed check
            log.warning("could not share a worker count", extra={"field": field, "error": type(error).__name__})

    def verification(self, outcome: str, seconds: float) -> None:
        self.add(f"verifications:{outcome}")
        self.add("verification_seconds:sum", seconds)
        self.add("verification_seconds:count")

    def collect(self):
        if self.redis is None:
            return
        try:
            values = {name.decode(): float(value) for name, value in self.redis.hgetall(self.key).items()}
        except Exception:  # Redis is down: leave these out rather than fail the scrape
            return
        outcomes = CounterMetricFamily("sinch_worker_verifications", "Verifications by outcome, counted by every "
                                       "worker (shared through Redis)", labels=["outcome"])
        for name, value in sorted(values.items()):
            if name.startswith("verifications:"):
                outcomes.add_metric([name.split(":", 1)[1]], value)
        yield outcomes
        yield SummaryMetricFamily("sinch_worker_verification_seconds", "Time to verify one recording, every worker",
                                  count_value=values.get("verification_seconds:count", 0.0),
                                  sum_value=values.get("verification_seconds:sum", 0.0))
        yield CounterMetricFamily("sinch_worker_checks_requeued", "Checks queued again after VERIFY_STALE_SECONDS "
                                  "of silence, every worker", value=values.get("checks_requeued", 0.0))


class StateCollector:
    """Recordings by status, those overdue, and the task queue's depth, read when Prometheus
    scrapes (the same on every web dyno: they come from the database and the queue)."""

    def __init__(self, count_statuses, queue_depth, count_overdue=None, count_replays=None, webhooks=None,
                 evidence=None):
        self.count_statuses, self.queue_depth, self.count_overdue = count_statuses, queue_depth, count_overdue
        self.count_replays, self.webhooks, self.evidence = count_replays, webhooks, evidence

    def collect(self):
        recordings = GaugeMetricFamily("sinch_recordings", "Catalogued recordings by status", labels=["status"])
        try:
            for status, count in self.count_statuses():
                recordings.add_metric([status], count)
            yield recordings
        except Exception:  # the database is down: leave the gauge out rather than fail the scrape
            pass
        try:
            if self.count_overdue is not None:
                yield GaugeMetricFamily("sinch_recordings_overdue", "Recordings not final past their deadline "
                                        "(alert when above 0 for long)", value=self.count_overdue())
        except Exception:
            pass
        try:
            if self.count_replays is not None:
                yield GaugeMetricFamily("sinch_replays_pending", "Spooled callbacks imported but not replayed yet "
                                        "(the database failed during recovery; the next recovery resumes)",
                                        value=self.count_replays())
        except Exception:
            pass
        try:
            yield GaugeMetricFamily("sinch_queue_depth", "Tasks waiting in the queue", value=self.queue_depth())
        except Exception:
            pass
        try:
            if self.webhooks is not None:
                yield from _webhook_families(self.webhooks())
        except Exception:
            pass
        try:
            if self.evidence is not None:
                yield from _evidence_families(self.evidence())
        except Exception:
            pass


def _evidence_families(state: dict | None):
    """The transparency log (``app.evidence.state``), while it is on (``state`` None: off)."""
    if state is None:
        return
    described = {"leaves": "Events in the transparency log", "waiting": "Numbered events not appended to the "
                 "transparency log yet", "unsigned": "Leaves no signed tree head covers yet (alert when above 0 for "
                 "more than a few minutes)", "unwritten": "Signed tree heads not written to the evidence "
                 "destination yet (alert when above 0 for long)"}
    for name, help_ in described.items():
        yield GaugeMetricFamily(f"sinch_evidence_{name}", help_, value=state[name])


def _webhook_families(state: dict):
    """Webhook deliveries by endpoint and status, attempts by endpoint and outcome, the oldest
    pending delivery's age per endpoint (``app.events.feed.delivery_state``)."""
    deliveries = GaugeMetricFamily("sinch_webhook_deliveries", "Webhook deliveries by endpoint and status "
                                   "(pending, delivered, failed)", labels=["endpoint", "status"])
    for endpoint, status, count in state["deliveries"]:
        deliveries.add_metric([endpoint, status], count)
    attempts = CounterMetricFamily("sinch_webhook_attempts", "Webhook delivery attempts by endpoint and outcome "
                                   "(ok: a 2xx in time)", labels=["endpoint", "outcome"])
    for endpoint, outcome, count in state["attempts"]:
        attempts.add_metric([endpoint, outcome], count)
    oldest = GaugeMetricFamily("sinch_webhook_oldest_pending_seconds", "Age of each endpoint's oldest pending "
                               "delivery (alert when it grows)", labels=["endpoint"])
    for endpoint, seconds in state["oldest_pending_seconds"].items():
        oldest.add_metric([endpoint], seconds)
    yield from (deliveries, attempts, oldest)


def exposition(state: StateCollector, shared: SharedCounts | None = None) -> bytes:
    """The text exposition: this process, or every process when in multiprocess mode."""
    from prometheus_client import REGISTRY

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    registry.register(state)
    if shared is not None and shared.redis is not None:
        registry.register(shared)
    return generate_latest(registry)


class _Forward:
    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()
