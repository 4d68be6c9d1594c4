"""What ICE, ACE and PIE are answered with: the decision, and the fallback when it fails.

:class:`Replier` holds the one replaceable decision function (``decide(event, call) ->
Decision``, the rules engine in the app), how to read a call's stored state, the fallback
(``app.sinch.fallback``) and, in sidecar mode, the sidecar. :meth:`Replier.reply` never raises:
whatever goes wrong in reading state, deciding or rendering, the call gets the fallback, and the
failure is logged with the call id and counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from app.metrics import FALLBACK_REPLIES
from app.rules.decide import Decision
from app.sinch.fallback import Fallback, builtin_fallback
from app.sinch.svaml import SvamlError, passable, render

if TYPE_CHECKING:
    from app.sidecar import Sidecar

log = logging.getLogger(__name__)

Decide = Callable[[dict, "dict | None"], Decision]


def no_rules(event: dict, call: dict | None) -> Decision:
    """A decision without a ruleset: the built-in fallback, recording nothing."""
    return Decision(event["event"], builtin_fallback(event))


@dataclass(frozen=True)
class Reply:
    svaml: dict
    outcome: str                    # answered | fallback
    error: str | None = None
    decision: Decision | None = None
    upstream: dict | None = None    # sidecar mode: what the upstream answered (journaled)


class Unread:
    """The call's stored state could not be read (``error``): the reply is the fallback."""

    def __init__(self, error: BaseException):
        self.error = error



@dataclass
class Replier:
    decide: Decide = no_rules
    fallback: Fallback = field(default_factory=Fallback)
    load_call: Callable[[str], "dict | None"] = lambda call_id: None
    sidecar: "Sidecar | None" = None  # sidecar mode: the upstream answers, the rules add recording

    def call_of(self, event: dict) -> "dict | None | Unread":
        """The call's stored state for an ACE/PIE (None for an ICE, or a call never seen), or
        :class:`Unread` when the database did not give it."""
        if event["event"] == "ice":
            return None
        try:
            return self.load_call(event["callid"])
        except Exception as error:  # the reply will be the fallback, and say why
            return Unread(error)

    def reply(self, event: dict, call: "dict | None | Unread", incoming=None,
              application_key: str | None = None) -> Reply:
        """The reply; ``call`` is the call's state as :meth:`call_of` gave it (read first, so that
        the caller can redact the event with it before anything decides on it)."""
        kind = event["event"]
        try:
            if isinstance(call, Unread):
                raise call.error
            decision = self.decide(event, call)
            upstream, check = None, render
            if self.sidecar is not None and incoming is not None:
                decision, upstream = self.sidecar.answer(event, decision, call, incoming, application_key)
                if upstream is not None:  # the upstream's reply is the customer's: checked as Sinch would
                    check = passable
            return Reply(check(decision.svaml, kind), "answered", None, decision, upstream)
        except Exception as error:  # anything at all: the call must still be answered
            FALLBACK_REPLIES.labels(kind).inc()
            reason = describe_failure(error)
            log.error("decision failed; answering with the fallback",
                      extra={"call_id": event.get("callid"), "event": kind, "reason": reason})
            return Reply(self.fallback(event), "fallback", reason)


def describe_failure(error: BaseException) -> str:
    if isinstance(error, SvamlError):
        return f"invalid SVAML: {error}"
    return f"{type(error).__name__}: {error}"[:500]
