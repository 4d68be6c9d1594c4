"""What ICE, ACE and PIE are answered with: the decision, and the fallback when it fails.

:class:`Replier` holds the one replaceable decision function (``decide(event, call) ->
Decision``, the rules engine in the app), how to read a call's stored state, and the fallback
replies. :meth:`Replier.reply` never raises: whatever goes wrong in reading state, deciding or
rendering, the call gets the fallback, and the failure is logged with the call id and counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

from app.metrics import FALLBACK_REPLIES
from app.rules.decide import Decision
from app.sinch import svaml
from app.sinch.svaml import SvamlError, render

if TYPE_CHECKING:
    from app.sidecar import Sidecar

log = logging.getLogger(__name__)

Decide = Callable[[dict, "dict | None"], Decision]


def builtin_fallback(event: dict) -> dict:
    """ICE: connect the dialled destination without recording; ACE and PIE: continue."""
    if event["event"] == "ice":
        to = event.get("to") or {}
        return svaml.svaml(svaml.connect_dialled(to.get("type"), to.get("endpoint"), event.get("domain")))
    return svaml.svaml(svaml.continue_())


def no_rules(event: dict, call: dict | None) -> Decision:
    """A decision without a ruleset: the built-in fallback, recording nothing."""
    return Decision(event["event"], builtin_fallback(event))


@dataclass(frozen=True)
class Reply:
    svaml: dict
    outcome: str                    # answered | fallback
    error: str | None = None
    decision: Decision | None = None


@dataclass
class Replier:
    decide: Decide = no_rules
    # Configured fallback documents by callback ("ice"/"ace"/"pie"), already validated.
    fallbacks: Mapping[str, dict] = field(default_factory=dict)
    load_call: Callable[[str], "dict | None"] = lambda call_id: None
    sidecar: "Sidecar | None" = None  # sidecar mode: the upstream answers, the rules add recording

    def reply(self, event: dict, incoming=None, application_key: str | None = None) -> Reply:
        kind = event["event"]
        try:
            call = self.load_call(event["callid"]) if kind != "ice" else None
            decision = self.decide(event, call)
            if self.sidecar is not None and incoming is not None:
                decision = self.sidecar.answer(event, decision, call, incoming, application_key)
            return Reply(render(decision.svaml, kind), "answered", None, decision)
        except Exception as error:  # anything at all: the call must still be answered
            FALLBACK_REPLIES.labels(kind).inc()
            reason = describe_failure(error)
            log.error("decision failed; answering with the fallback",
                      extra={"call_id": event.get("callid"), "event": kind, "reason": reason})
            return Reply(self.fallback(event), "fallback", reason)

    def fallback(self, event: dict) -> dict:
        configured = self.fallbacks.get(event["event"])
        if configured is not None:
            return configured
        try:
            return render(builtin_fallback(event), event["event"])
        except SvamlError:  # a destination the schema refuses: let the platform dial it
            action = svaml.connect_pstn() if event["event"] == "ice" else svaml.continue_()
            return svaml.svaml(action)


def describe_failure(error: BaseException) -> str:
    if isinstance(error, SvamlError):
        return f"invalid SVAML: {error}"
    return f"{type(error).__name__}: {error}"[:500]


def validated_fallbacks(configured: Mapping[str, dict | None]) -> dict[str, dict]:
    """The configured fallback replies, each checked against its callback's rules.

    Raises :class:`ValueError` naming the setting when one would be refused by Sinch.
    """
    checked = {}
    for kind, doc in configured.items():
        if doc is None:
            continue
        try:
            checked[kind] = render(doc, kind)
        except SvamlError as error:
            raise ValueError(f"SINCH_FALLBACK_{kind.upper()}_SVAML: {error}") from None
    return checked
