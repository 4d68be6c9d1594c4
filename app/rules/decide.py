"""``decide(event, ruleset, now, call)``: what to answer a callback with, as a pure function.

The :class:`Decision` says which rule matched and why, the SVAML to send (credentials included,
so it is never stored or logged as it is: see :func:`masked`), the recordings that reply starts
(each with its unique key) and what to remember about the call (its ICE attributes, the consent
state and evidence). Nothing here touches the database, the clock or the network: the caller
passes the time, the call's stored state and a source of unique ids.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable

from app.rules.engine import Facts
from app.rules.model import Connect, Consent, RecordPlan, Rule, Ruleset
from app.sinch import svaml

CONSENT_MENU = "main"  # runMenu needs a menu called main; PIE names it in menuResult.menuId
MASK = "***"

# Consent states stored with the call.
NOT_ASKED, PENDING, ACCEPTED, DECLINED, UNAVAILABLE = "not_asked", "pending", "accepted", "declined", "unavailable"
# The caller let the consent menu time out, or hung up while it played (their DiCE came instead of
# a PIE): neither is a "no", and the catalogue keeps them apart.
TIMEOUT, NO_ANSWER = "timeout", "no_answer"
ANSWERS = (ACCEPTED, DECLINED, TIMEOUT, NO_ANSWER)  # how a consent question can end
CONSENTS = (NOT_ASKED, PENDING, *ANSWERS, UNAVAILABLE)


@dataclass(frozen=True)
class PlannedRecording:
    """A recording the reply starts; it becomes a catalogue row in state ``requested``."""

    destination: str
    url: str
    format: str
    segment: int
    mode: str
    conference_id: str | None = None
    retain_days: int | None = None
    resumed: bool = False  # a segment after a pause (sensitive input): its first event is recording.resumed


@dataclass(frozen=True)
class Decision:
    event: str
    svaml: dict = field(repr=False)
    rule_id: str | None = None
    ruleset_hash: str | None = None
    matched: dict = field(default_factory=dict)
    recordings: tuple[PlannedRecording, ...] = ()
    consent: str = NOT_ASKED
    consent_evidence: dict | None = None
    call_facts: dict | None = None  # ICE attributes remembered for ACE/PIE (no secrets)
    # What records, in SVAML terms (the options, the announcement); ``recordings`` is its catalogue
    # side. A merge into another app's reply (sidecar mode, rules explain) places it there.
    part: "RecordingPart | None" = field(default=None, repr=False)
    room: str | None = None  # the conference the call is connected to (connectConf), recorded or not
    problem: str | None = None  # why the rule could not answer as written (the call was answered otherwise)

    def call_state(self) -> dict:
        """The call as the catalogue stores it after this decision (what ACE/PIE decide with)."""
        return {"facts": self.call_facts, "rule_id": self.rule_id, "consent": self.consent,
                "decision": self.record(), "matched": self.matched}

    def record(self) -> dict:
        """The decision record stored with the call and in the journal (no credentials)."""
        return {
            "rule_id": self.rule_id, "ruleset_hash": self.ruleset_hash, "matched": self.matched,
            "consent": self.consent, "destination_keys": [r.url for r in self.recordings],
            **({"flag": True} if any(r.mode != "instruction" for r in self.recordings) else {}),
            **({"room": self.room} if self.room else {}),
            **({"problem": self.problem} if self.problem else {}),
        }


def decide(event: dict, ruleset: Ruleset, now: datetime, call: dict | None = None,
           new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
           room_recorded: Callable[[str], bool] = lambda room: False) -> Decision:
    """The decision for an ICE, ACE or PIE. ``call`` is what was stored at the call's ICE;
    ``room_recorded(room)`` says whether a conference room is being recorded already (then a
    participant joins it without asking Sinch to record again: a room is recorded once).

    A rule that would connect a call to the application's own number (``connect: dialled`` on a
    ``did`` call, whether at the ICE or after a consent answer) has nowhere to go: the caller is
    told so and hung up on, and the decision's ``problem`` says why."""
    try:
        return _decide(event, ruleset, now, call, new_id, room_recorded)
    except svaml.Unroutable as error:
        return Decision(event["event"], svaml.no_route(), ruleset_hash=ruleset.hash, problem=str(error),
                        call_facts=_facts_record(Facts.from_ice(event)) if event["event"] == "ice" else None)


def _decide(event: dict, ruleset: Ruleset, now: datetime, call: dict | None, new_id: Callable[[], str],
            room_recorded: Callable[[str], bool]) -> Decision:
    kind = event["event"]
    if kind == "pie" and call and call.get("consent") == PENDING:
        return _consent_answer(event, ruleset, now, call, new_id)
    if kind == "ice":
        facts = Facts.from_ice(event)
    elif call and call.get("facts"):
        facts = Facts.from_record(call["facts"], kind)
    else:  # no ICE was seen for this call: one the application placed through the Callout API
        facts = Facts(event=kind, call_id=event["callid"], origin="callout",
                      application_key=event.get("application_key"))
    if kind == "ace":
        facts = replace(facts, amd=amd_status(event))
    rule, matched = ruleset.index.first_match(facts, now)
    if rule is None:  # ACE/PIE with no rule of their own
        return Decision(kind, svaml.svaml(svaml.continue_()), ruleset_hash=ruleset.hash,
                        call_facts=_facts_record(facts) if kind == "ice" else None)
    base = dict(event=kind, rule_id=rule.id, ruleset_hash=ruleset.hash, matched=matched,
                call_facts=_facts_record(facts) if kind == "ice" else None)
    plan = rule.record
    if kind != "ice" and call and (call.get("decision") or {}).get("destination_keys"):
        plan = None  # the ICE reply already started this call's recording: never twice
    room = _room(rule, facts, now)
    base["room"] = room
    if plan is not None and plan.mode == "conference" and room is not None and room_recorded(room):
        plan = None  # the room's first participant started its recording: this one joins it
    if plan is not None and plan.consent is not None:
        if not _can_ask_consent(rule, facts):
            doc, _, _ = _reply(rule, None, facts, ruleset, now, new_id, segment=1)
            return Decision(svaml=doc, consent=UNAVAILABLE, **base)
        return Decision(svaml=_consent_menu(plan), consent=PENDING,
                        consent_evidence={"asked": consent_question(plan.consent, ruleset.hash)}, **base)
    doc, recordings, part = _reply(rule, plan, facts, ruleset, now, new_id, segment=1)
    return Decision(svaml=doc, recordings=recordings, part=part, **base)


def amd_status(event: dict) -> str | None:
    """The ACE's answering-machine verdict, lower-cased; None when detection was not enabled."""
    status = (event.get("amd") or {}).get("status")
    return str(status).lower() if status else None


def pending_recording(event: dict, ruleset: Ruleset, now: datetime, call: dict | None,
                      new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> "RecordingPart | None":
    """For ACE/PIE: the recording the call's ICE rule asked for but no reply has started yet
    (the ICE reply could not carry it, e.g. an IVR menu came first)."""
    if not call or not call.get("rule_id") or (call.get("decision") or {}).get("destination_keys"):
        return None
    rule = ruleset.rule(call["rule_id"])
    if rule is None or rule.record is None or rule.record.consent is not None:
        return None
    facts = Facts.from_record(call["facts"], "ice")
    return recording_part(rule, rule.record, facts, ruleset, now, new_id, segment=1)


def _consent_answer(event: dict, ruleset: Ruleset, now: datetime, call: dict, new_id) -> Decision:
    result = event.get("menu_result") or {}
    evidence = {key: result.get(key) for key in ("menu_id", "type", "value", "input_method")}
    evidence["timestamp"] = event.get("timestamp") or now.isoformat()
    facts = Facts.from_record(call["facts"], "ice")
    rule = ruleset.rule(call.get("rule_id") or "")
    asked = rule is not None and rule.record is not None and rule.record.consent is not None
    if asked:
        evidence["asked"] = consent_question(rule.record.consent, ruleset.hash)
    kind = str(result.get("type", "")).lower()
    if kind == "return" and asked and result.get("value") == "accept":
        answer = ACCEPTED
    elif kind == "timeout":
        answer = TIMEOUT
    elif kind == "hangup":
        answer = NO_ANSWER
    else:  # "no", or digits/input that mean nothing else: recording needs a yes
        answer = DECLINED
    accepted = answer == ACCEPTED
    base = dict(event="pie", ruleset_hash=ruleset.hash, consent_evidence=evidence,
                consent=answer, matched=dict(call.get("matched") or {}))
    if rule is None:  # the ruleset changed under the call: connect as dialled, without recording
        return Decision(svaml=svaml.svaml(svaml.connect_dialled(facts.to_type, facts.to, facts.domain)),
                        rule_id=call.get("rule_id"), **base)
    doc, recordings, _ = _reply(rule, rule.record if accepted else None, facts, ruleset, now, new_id, segment=1)
    return Decision(svaml=doc, recordings=recordings, rule_id=rule.id, **base)


def _can_ask_consent(rule: Rule, facts: Facts) -> bool:
    """Sinch sends PIE only for PSTN and SIP calls, never for app (MXP) legs."""
    return not (rule.connect.kind == "dialled" and facts.to_type == "username")


def _consent_menu(plan: RecordPlan) -> dict:
    consent = plan.consent
    decline = _decline_digit(consent)
    menu = svaml.menu(
        CONSENT_MENU, svaml.tts(consent.prompt),
        svaml.menu_option(consent.accept, "return(accept)"), svaml.menu_option(decline, "return(decline)"),
        repeat_prompt=svaml.tts(consent.prompt), repeats=consent.repeats, max_digits=1,
        timeout_mills=consent.timeout_ms,
    )
    return svaml.svaml(svaml.run_menu(menu, locale=consent.locale, barge=True))


@dataclass(frozen=True)
class RecordingPart:
    """What a rule adds to a reply so the call is recorded, whatever action the reply ends with."""

    announce: tuple[dict, ...]   # played before recording starts
    options: dict = field(repr=False)  # recordingOptions / startRecording options (with credentials)
    mode: str                    # as the rule asks: instruction | flag | conference
    destination: str
    url: str
    format: str
    segment: int
    retain_days: int | None = None

    def planned(self, mode: str, conference_id: str | None = None) -> PlannedRecording:
        return PlannedRecording(self.destination, self.url, self.format, self.segment, mode,
                                conference_id if mode == "conference" else None, self.retain_days)


def recording_part(rule: Rule, plan: RecordPlan, facts: Facts, ruleset: Ruleset, now: datetime, new_id,
                   *, segment: int) -> RecordingPart:
    destination = ruleset.destinations[plan.destination]
    fmt = plan.format or destination.format
    url = destination.url.fill({**_values(rule, facts), "segment": segment, "uuid": new_id(), "format": fmt}, now)
    options = svaml.recording_options(
        url, destination.sinch_credentials, format=fmt, notification_events=True,
        transcription_locale=plan.transcription_locale or destination.transcription_locale,
    )
    return RecordingPart(tuple(_announcement(plan)), options, plan.mode, destination.name, url, fmt, segment,
                         plan.retain_days)


def _reply(rule: Rule, plan: RecordPlan | None, facts: Facts, ruleset: Ruleset, now: datetime, new_id,
           *, segment: int) -> tuple[dict, tuple[PlannedRecording, ...], RecordingPart | None]:
    """The rule's SVAML, recording per ``plan`` (None: no recording), and the recording part used."""
    connect = rule.connect
    values = _values(rule, facts)
    if plan is None:
        return svaml.svaml(_action(connect, facts, values, now, None)), (), None
    part = recording_part(rule, plan, facts, ruleset, now, new_id, segment=segment)
    flag = part.mode != "instruction" or _is_app_leg(connect, facts)
    instructions = list(part.announce)
    if not flag:
        instructions.append(svaml.start_recording(part.options))
    action = _action(connect, facts, values, now, part.options if flag else None)
    mode = part.mode if part.mode == "conference" else ("flag" if flag else "instruction")
    return svaml.svaml(action, *instructions), (part.planned(mode, action.get("conferenceId")),), part


def _is_app_leg(connect: Connect, facts: Facts) -> bool:
    return connect.kind == "user" or (connect.kind == "dialled" and facts.to_type == "username")


def consent_question(consent: Consent, ruleset_hash: str) -> dict:
    """What the caller was asked, kept with their answer: the prompt (its SHA-256: the text is in
    the ruleset of that hash), the digits that meant yes and no, and the ruleset."""
    return {"prompt_sha256": hashlib.sha256(consent.prompt.encode()).hexdigest(), "accept": consent.accept,
            "decline": _decline_digit(consent), "ruleset_hash": ruleset_hash}


def _decline_digit(consent: Consent) -> str:
    return "2" if consent.accept != "2" else "1"


def _announcement(plan: RecordPlan) -> list[dict]:
    """Played before recording starts, so it is not in the recording."""
    announce = plan.announce
    if announce is None:
        return []
    if announce.say is not None:
        return [svaml.say(announce.say, locale=announce.locale)]
    return [svaml.play_files(*announce.play, locale=announce.locale)]


def _action(connect: Connect, facts: Facts, values: dict, now: datetime, recording: dict | None) -> dict:
    target = connect.target.fill(values, now) if connect.target is not None else None
    if connect.kind == "dialled":
        return svaml.connect_dialled(facts.to_type, facts.to, facts.domain, recording=recording)
    if connect.kind == "pstn":
        return svaml.connect_pstn(target, cli=connect.cli, max_duration=connect.max_duration,
                                  dial_timeout=connect.dial_timeout, recording=recording)
    if connect.kind == "sip":
        return svaml.connect_sip(target, cli=connect.cli, max_duration=connect.max_duration,
                                 transport=connect.transport, recording=recording)
    if connect.kind == "user":
        return svaml.connect_mxp(target, recording=recording)
    if connect.kind == "conference":
        return svaml.connect_conf(room_id(target), moh=connect.moh, recording=recording)
    if connect.kind == "continue":
        return svaml.continue_(recording=recording)
    return svaml.hangup()


def room_id(name: str) -> str:
    """A conference id Sinch takes (at most 64 characters): a longer name keeps its first 47 and
    gets a hash of the whole, so two long names never share a room and one name always maps alike."""
    if len(name) <= svaml.MAX_CONFERENCE_ID:
        return name
    return f"{name[:47]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def _room(rule: Rule, facts: Facts, now: datetime) -> str | None:
    if rule.connect.kind != "conference" or rule.connect.target is None:
        return None
    return room_id(rule.connect.target.fill(_values(rule, facts), now))


def _values(rule: Rule, facts: Facts) -> dict:
    values = {"callid": facts.call_id, "rule": rule.id, "cli": facts.cli or "", "to": facts.to or ""}
    values.update((f"header.{name}", value) for name, value in facts.headers)
    return values


def _facts_record(facts: Facts) -> dict:
    record = {name: getattr(facts, name) for name in Facts.__slots__}
    record["headers"] = [list(pair) for pair in facts.headers]
    return record


def masked(doc: dict) -> dict:
    """``doc`` with every credential replaced by ``***`` (a copy when there is one), for display."""
    action = doc.get("action", {})
    if "recordingOptions" not in action and not any(
            i.get("name") == "startRecording" for i in doc.get("instructions", ())):
        return doc  # nothing secret in it: no copy on the hot path
    shown = copy.deepcopy(doc)
    options = [i.get("options") for i in shown.get("instructions", []) if i.get("name") == "startRecording"]
    options.append(shown.get("action", {}).get("recordingOptions"))
    for item in filter(None, options):
        if "credentials" in item:
            item["credentials"] = MASK
    return shown
