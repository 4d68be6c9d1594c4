"""Handling one callback request, from raw bytes to the response, journaled on the way.

Every outcome is one of:

* 401 — the signature check failed (reason code in the body, logged and counted);
* 400 — the body is not a callback we understand (the field is named);
* 200 with SVAML — ICE/ACE/PIE, answered by the decision or, when anything fails, the fallback;
* 200 with an empty body — DiCE and notify.

The journal row is written before the response leaves, whatever the outcome. When the database
cannot take it, or does not answer within ``JOURNAL_BUDGET_MS`` (the write runs in the
:class:`journal.Writer`'s threads), the entry is spooled and ICE/ACE/PIE get the fallback reply;
a write that commits after that is settled to what was answered (:func:`recovery.settle`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from typing import Callable

from flask import current_app, g, has_app_context

from app import journal
from app.callbacks import sensitive
from app.callbacks.recovery import Recovery, settle
from app.callbacks.replies import Replier, Unread, describe_failure
from app.db import db
from app.metrics import CALLBACKS, FALLBACK_REPLIES, REPLY_SECONDS, SIGNATURE_FAILURES
from app.recordings import lifecycle
from app.recordings.catalogue import save_decision, save_sensitive
from app.recordings.tasks import verify_recording
from app.rules.decide import Decision, masked, recording_part
from app.rules.engine import Facts
from app.rules.model import Ruleset, Sensitive
from app.settings import Settings
from app.sinch import signing
from app.sinch.events import ANSWERED_EVENTS, CallbackError, parse_callback
from app.sinch.svaml import SvamlError, passable

log = logging.getLogger(__name__)

_JSON = {"separators": (",", ":"), "ensure_ascii": False}


@dataclass(slots=True)
class Incoming:
    body: bytes
    path: str
    method: str
    content_type: str | None
    authorization: str | None
    timestamp: str | None
    request_id: str | None = None


@dataclass(slots=True)
class Outgoing:
    status: int
    body: bytes
    call_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class CallbackRuntime:
    """What the callback handler needs from the app, built once by ``create_app``."""

    settings: Settings
    replier: Replier
    spool: journal.Spool
    writer: journal.Writer = field(default_factory=lambda: journal.Writer(0))
    rules: Callable[[], Ruleset | None] = lambda: None  # the live ruleset (what is sensitive, how to record again)
    recovery: Recovery = field(init=False)

    def __post_init__(self) -> None:
        self.recovery = Recovery(self.spool)


def error_body(code: str, message: str, fields: dict | None = None) -> bytes:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return json.dumps({"error": error}, **_JSON).encode()


def handle(incoming: Incoming, runtime: CallbackRuntime) -> Outgoing:
    started = time.perf_counter()
    runtime.writer.begin()
    received_at = datetime.now(timezone.utc)
    entry = journal.Entry(
        received_at=received_at, request_id=incoming.request_id, path=incoming.path,
        content_type=incoming.content_type, body=incoming.body, signature=signing.UNCHECKED,
        status_code=200, outcome="accepted", handling_ms=0.0,
    )
    event: dict | None = None
    decision: Decision | None = None
    guarded: sensitive.Guarded | None = None
    reading: Reading | None = None
    try:
        verdict = _verify(incoming, runtime.settings, received_at)
        entry.signature, entry.application_key = verdict.reason, verdict.application_key
        if not verdict.ok:
            SIGNATURE_FAILURES.labels(verdict.reason).inc()
            log.warning("callback refused: %s", verdict.message,
                        extra={"reason": verdict.reason, "application_key": verdict.application_key})
            outgoing = Outgoing(401, error_body(verdict.reason, verdict.message),
                                headers={"WWW-Authenticate": "Application"})
            entry.outcome = "rejected"
        else:
            event = parse_callback(incoming.body)
            entry.event, entry.call_id = event["event"], event["callid"]
            if has_app_context():
                g.call_id = entry.call_id  # every log line from here on carries it
            if event["event"] in ANSWERED_EVENTS:
                reading = _read(event, runtime, entry)
                event = reading.event
            outgoing, decision, guarded = _dispatch(event, runtime, entry, incoming, reading)
    except CallbackError as error:
        entry.outcome, entry.error = "rejected", error.message
        outgoing = Outgoing(error.status, error_body(error.code, error.message, error.fields))
    except Exception as error:  # a bug of ours: never drop a call because of it
        entry.outcome, entry.error = "error", describe_failure(error)
        log.exception("callback handling failed", extra={"call_id": entry.call_id})
        outgoing = _last_resort(event, incoming.body, runtime, entry)
    if reading is None and b"menuResult" in entry.body:
        # a body never read against the ruleset (refused, or a bug of ours on the way) keeps no
        # keyed input either
        redacted = sensitive.refused_body(entry.body)
        if redacted is not None:
            entry.body, entry.redacted = redacted, True
    entry.status_code = outgoing.status
    outgoing.call_id = entry.call_id
    entry.handling_ms = (time.perf_counter() - started) * 1000.0
    saver, followups = _saver(event, decision, entry, received_at, runtime, guarded)
    fallback_of = _fallback_of(event, runtime)
    engine = db.engine
    try:
        stored = replace(entry)
        kind, instead, answer, failure = runtime.writer.write(stored, saver, partial(_outcome, stored, fallback_of,
                                                                                     engine), engine)
    except journal.Late as late:
        # The database hangs: answer without it, keep the entry, and if the write still commits
        # later, correct what it wrote (the reply sent was this one).
        instead, answer = fallback_of(entry)
        kind, failure = "late", late
        if late.work is not None:
            late.work.add_done_callback(partial(_settle_late, entry=entry, instead=instead, followups=followups,
                                                engine=engine))
    if kind == "committed":
        log.warning("the commit's answer was lost, but it had committed; answering what was stored",
                    extra={"error": type(failure).__name__, "call_id": entry.call_id})
    elif kind != "stored":
        log.error("could not store the callback and its decision",
                  extra={"error": type(failure).__name__, "call_id": entry.call_id})
        if answer is not None:  # the decision relied on rows that were not written: the fallback
            FALLBACK_REPLIES.labels(event["event"]).inc()
            answer.call_id, outgoing = entry.call_id, answer
        entry = instead
        if kind != "instead":
            runtime.spool.put(entry, failure)
            runtime.recovery.spooled()
    if kind in ("stored", "committed"):
        _enqueue_verifications(followups, entry.call_id)
        runtime.recovery.soon(current_app._get_current_object())  # if anything was spooled
    CALLBACKS.labels(entry.event or "unknown", entry.outcome).inc()
    REPLY_SECONDS.labels(entry.event or "unknown").observe(time.perf_counter() - started)
    return outgoing


def _outcome(entry: journal.Entry, fallback_of, engine, failure: Exception | None) -> tuple:
    """What came of the journal write and what to do when it failed (in the
    :class:`journal.Writer`'s thread, after its group commit): ``(kind, instead, answer, error)``
    with ``kind`` one of ``stored``; ``committed`` (the COMMIT's answer was lost but it had gone
    through); ``instead`` (not committed: ``instead``, the entry as answered without the decision,
    was stored); ``spool`` (the database failed again: keep ``instead``)."""
    if failure is None:
        return "stored", None, None, None
    instead, answer = fallback_of(entry)
    again = journal.store_again(entry.entry_id, instead, engine)
    if again == journal.COMMITTED:
        return "committed", None, None, failure
    if again == journal.STORED:
        return "instead", instead, answer, failure
    return "spool", instead, answer, again


def _fallback_of(event: dict | None, runtime: CallbackRuntime):
    """``fallback_of(entry) -> (instead, answer)``: the entry as it is journaled when its decision
    could not be stored, and for ICE/ACE/PIE the fallback reply to send instead (else None). Pure:
    it may run in the writer's thread."""
    def fallback_of(entry: journal.Entry):
        instead = replace(entry)
        if event is None or event["event"] not in ANSWERED_EVENTS or entry.outcome == "fallback":
            return instead, None
        instead.outcome, instead.error = "fallback", "the decision could not be stored"
        instead.rule_id = instead.decision = None  # nothing of the decision was stored
        return instead, _svaml_reply(_paused_fallback(event, runtime), instead)
    return fallback_of


def _paused_fallback(event: dict, runtime: CallbackRuntime) -> dict:
    """The fallback reply, with ``stopRecording`` before a sensitive menu it opens: whether a
    recording runs is not known here, so it is taken to."""
    doc, ruleset = runtime.replier.fallback(event), runtime.rules()
    if ruleset is None:
        return doc
    return sensitive.guard(doc, event["event"], None, ruleset.sensitive, datetime.now(timezone.utc).isoformat(),
                           ours_running=event["event"] != "ice").svaml


def _settle_late(work, *, entry: journal.Entry, instead: journal.Entry, followups, engine) -> None:
    """A write the request stopped waiting for has finished. If it committed what the request did
    not answer (a decision, while the call got the fallback), :func:`recovery.settle` corrects it;
    if it committed a DiCE or notify, its checks are queued."""
    try:
        kind = work.result()[0]
        if kind not in ("stored", "committed"):
            return  # nothing of the first version was written; the spool holds the entry
        if instead.outcome != entry.outcome:
            with engine.begin() as connection:
                settle(connection, journal.values(instead))
        _enqueue_verifications(followups, entry.call_id)
    except Exception as error:  # the database is still away: the spool's import settles it
        log.error("could not settle a late journal write", extra={"call_id": entry.call_id,
                                                                  "error": type(error).__name__})


def _verify(incoming: Incoming, settings: Settings, now: datetime) -> signing.Verdict:
    if not settings.verify_signatures:
        return signing.Verdict(signing.UNCHECKED)
    return signing.verify(
        authorization=incoming.authorization, timestamp=incoming.timestamp,
        content_type=incoming.content_type, method=incoming.method, path=incoming.path,
        body=incoming.body, applications=settings.applications,
        max_skew=settings.signature_max_skew, now=now,
    )


@dataclass(slots=True)
class Reading:
    """An ICE, ACE or PIE read against the ruleset before anything decides on it: the call's stored
    state (:class:`Unread` when the database did not give it), what is sensitive on the call, and
    the event as kept (a PIE's keyed value redacted; ``secret`` is the value as sent)."""

    event: dict
    call: "dict | None | Unread"
    ruleset: Ruleset | None
    policy: "Sensitive | None"
    secret: str | None = None

    @property
    def known(self) -> bool:
        return not isinstance(self.call, Unread)

    @property
    def state(self) -> dict | None:
        return self.call if self.known else None


def _read(event: dict, runtime: CallbackRuntime, entry: journal.Entry) -> Reading:
    """Read an ICE/ACE/PIE against the ruleset and redact its keyed input (in the journal entry
    too): from here on nothing sees the digits but the upstream."""
    call = runtime.replier.call_of(event)
    ruleset = runtime.rules()
    reading = Reading(event, call, ruleset, None)
    if ruleset is None:
        return reading
    reading.policy = ruleset.sensitive_for((reading.state or {}).get("rule_id"))
    if event["event"] == "pie":
        replacement = sensitive.redaction(event, reading.policy, (reading.state or {}).get("sensitive"),
                                          state_known=reading.known)
        if replacement is not None:
            reading.secret = event["menu_result"]["value"]
            reading.event = sensitive.redacted_event(event, replacement)
            entry.body, entry.redacted = sensitive.redacted_body(entry.body, replacement), True
    return reading


def _dispatch(event: dict, runtime: CallbackRuntime, entry: journal.Entry, incoming: Incoming,
              reading: Reading | None) -> tuple[Outgoing, Decision | None, "sensitive.Guarded | None"]:
    if reading is not None:  # ICE, ACE, PIE
        event = reading.event
        reply = runtime.replier.reply(event, reading.call, incoming, entry.application_key)
        entry.outcome, entry.error = reply.outcome, reply.error
        doc, decision, guarded = reply.svaml, reply.decision, None
        if reading.policy is not None:
            guarded, decision = _guard(event, reply, reading, runtime, entry)
            doc = guarded.svaml
        if decision is not None:
            entry.rule_id, entry.decision = decision.rule_id, decision.record()
            entry.upstream = reply.upstream
        if reading.secret is not None:  # what the upstream's answer echoes of the digits is kept scrubbed
            entry.upstream = sensitive.scrub(entry.upstream, reading.secret)
        return _svaml_reply(doc, entry, scrubbed=reading.secret), decision, guarded
    entry.outcome = "accepted"
    if runtime.replier.sidecar is not None:
        runtime.replier.sidecar.pass_on(event, incoming, entry.application_key)
    return Outgoing(200, b""), None, None


def _guard(event: dict, reply, reading: Reading, runtime: CallbackRuntime,
           entry: journal.Entry) -> tuple["sensitive.Guarded", Decision | None]:
    """The reply with the recording paused around its sensitive menus (:func:`sensitive.guard`),
    and the decision with the segment a resumed recording of the rules' opens."""
    decision, kind = reply.decision, event["event"]
    state, known, ruleset = reading.state, reading.known, reading.ruleset
    stored = (state or {}).get("sensitive") if known else {"paused": None}
    paused = (stored or {}).get("paused")
    ours_running = bool(state and ((state.get("decision") or {}).get("destination_keys")) and not paused) or (
        not known and kind != "ice")  # unknown: taken to run
    ours_flag = bool(state and (state.get("decision") or {}).get("flag"))  # the action's record flag: no pause
    ours_started = bool(decision is not None and decision.recordings and reply.outcome == "answered")
    if sensitive.quiet(reply.svaml, stored, ours_running, ours_started):
        return sensitive.Guarded(reply.svaml), decision  # the hot path: an ICE with no menu
    resumed_parts = []

    def resume_options(who: str) -> dict | None:
        if who == sensitive.UPSTREAM:
            sealed = ((stored or {}).get("upstream") or {}).get("options")
            sealer = _sealer(runtime, entry.application_key)
            return sealer.unseal(sealed) if sealer is not None and sealed else None
        rule = ruleset.rule((state or {}).get("rule_id") or "")
        if rule is None or rule.record is None or not (state or {}).get("facts"):
            return None
        segment = len((state.get("decision") or {}).get("destination_keys") or []) + 1
        part = recording_part(rule, rule.record, Facts.from_record(state["facts"], "ice"), ruleset,
                              datetime.now(timezone.utc), lambda: uuid.uuid4().hex, segment=segment)
        resumed_parts.append(part)
        return part.options

    def seal(options: dict) -> str | None:
        sealer = _sealer(runtime, entry.application_key)
        return sealer.seal(options) if sealer is not None else None

    guarded = sensitive.guard(reply.svaml, kind, stored, reading.policy, datetime.now(timezone.utc).isoformat(),
                              ours_running=ours_running, ours_started=ours_started, ours_flag=ours_flag,
                              resume_options=resume_options, seal=seal)
    if guarded.problem:
        log.warning("sensitive input: %s", guarded.problem, extra={"call_id": entry.call_id})
    if guarded.svaml is not reply.svaml:
        try:
            passable(guarded.svaml, kind)
        except SvamlError as error:  # never send what Sinch would refuse: the reply as it was
            log.error("sensitive input: the paused reply is not valid SVAML; sent without the pause",
                      extra={"call_id": entry.call_id, "reason": str(error)[:300]})
            return sensitive.Guarded(reply.svaml), decision
    if resumed_parts and decision is not None:
        decision = replace(decision, recordings=decision.recordings + tuple(
            replace(part.planned("instruction"), resumed=True) for part in resumed_parts))
    return guarded, decision


def _sealer(runtime: CallbackRuntime, application_key: str | None) -> "sensitive.Sealer | None":
    secret = runtime.settings.applications.get(application_key or "")
    return sensitive.Sealer(secret) if secret else None


def _saver(event: dict | None, decision: Decision | None, entry: journal.Entry, now: datetime,
           runtime: CallbackRuntime, guarded: "sensitive.Guarded | None" = None):
    """What to write beside the journal row, and where to collect what must follow the commit.

    ICE/ACE/PIE: the decision's call state and recordings, and what a sensitive menu changed (the
    call's sensitive state, its pause or resume). DiCE and notify: their effect on the catalogue
    (``lifecycle.apply``), whose recordings to verify are collected in ``followups``.
    """
    followups = lifecycle.Outcome()
    paused = None
    if guarded is not None and (guarded.state is not None or guarded.controls) and entry.call_id is not None:
        paused = partial(save_sensitive, call_id=entry.call_id, state=guarded.state, controls=guarded.controls,
                         pause_ours=guarded.paused == sensitive.RULES)
    if decision is not None and entry.outcome == "answered":
        resource_url = event.get("call_resource_url") if event else None

        def save(connection) -> None:
            save_decision(connection, decision, entry.call_id, entry.application_key, now, resource_url)
            if paused is not None:
                paused(connection)
        return save, followups
    if paused is not None:  # a fallback reply that still paused or resumed
        return paused, followups
    if event is not None and event["event"] in ("dice", "notify") and entry.outcome == "accepted":
        deadline = runtime.settings.recording_deadline_seconds

        def apply(connection) -> None:
            # replaced, not extended: a group commit that failed runs this again, alone
            followups.verify[:] = lifecycle.apply(connection, event, now, recording_deadline=deadline).verify
        return apply, followups
    return None, followups


def _enqueue_verifications(followups: "lifecycle.Outcome", call_id: str | None) -> None:
    """After the commit: queue the checks; if the queue is down, the sweeper re-queues them."""
    for recording_id in followups.verify:
        try:
            verify_recording(recording_id)
        except Exception as error:
            log.error("could not queue a verification; the sweeper will", extra={
                "call_id": call_id, "recording_id": recording_id, "error": type(error).__name__})


def _svaml_reply(doc: dict, entry: journal.Entry, scrubbed: str | None = None) -> Outgoing:
    text, shown = json.dumps(doc, **_JSON), masked(doc)
    entry.reply = text if shown is doc else json.dumps(shown, **_JSON)  # the journal never holds credentials
    if scrubbed is not None:  # nor sensitive input the reply echoes (a say reading the digits back)
        entry.reply = sensitive.scrub(entry.reply, scrubbed)
    return Outgoing(200, text.encode())


def _last_resort(event: dict | None, body: bytes, runtime: CallbackRuntime, entry: journal.Entry) -> Outgoing:
    """After an unexpected failure: the fallback SVAML if this is ICE/ACE/PIE, else 200."""
    if event is None:
        try:
            event = parse_callback(body)
        except Exception:
            event = None
    if event is not None and event.get("event") in ANSWERED_EVENTS:
        entry.outcome = "fallback"
        return _svaml_reply(runtime.replier.fallback(event), entry)
    return Outgoing(200, b"")
