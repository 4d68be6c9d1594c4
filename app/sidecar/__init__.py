"""Sidecar mode: recording policy in front of an existing Sinch application.

sinch-recorder owns the callback URL and forwards every verified callback to the team's backend
(``UPSTREAM_CALLBACK_URL``, or a rule's ``upstream.url``), re-signed for its path. For ICE, ACE and
PIE the upstream's SVAML is checked as Sinch checks it and passed on as sent, with only the rules'
recording merged in (``merge.py``; unknown keys are kept); a rule
can leave the reply alone (``upstream: only``) or answer without the upstream (``upstream: off``).
When the upstream is slow, down or answers invalid SVAML, the fallback reply is used — with the
recording still applied — and the problem is logged and counted. DiCE and notify are handled
locally and forwarded in the background.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, Mapping

from app.metrics import UPSTREAM_REQUESTS, UPSTREAM_SECONDS
from app.rules.decide import PENDING, Decision, masked, pending_recording
from app.rules.model import Rule, Ruleset
from app.rules.schema import RulesError
from app.settings import SettingsError
from app.sidecar.merge import merge
from app.sidecar.upstream import UpstreamClient, UpstreamReply

log = logging.getLogger(__name__)


def upstream_of(rule: Rule | None, default_url: str | None) -> tuple[str, str | None]:
    """``(mode, url)`` for a rule: its own ``upstream`` setting, else merge into the default."""
    if rule is not None and rule.upstream is not None:
        return rule.upstream.mode, rule.upstream.url or default_url
    return ("merge", default_url) if default_url else ("off", None)


def consent_conflicts(ruleset: Ruleset, default_url: str | None) -> dict[str, list[str]]:
    """Rules asking for consent where the upstream owns the menus (a ruleset check)."""
    return {f"rules[{rule.index}].record.consent": ["in sidecar mode the upstream owns the menus: consent needs "
                                                    "upstream: off on this rule"]
            for rule in ruleset.rules
            if rule.record and rule.record.consent and upstream_of(rule, default_url)[0] != "off"}


def pause_conflicts(ruleset: Ruleset, default_url: str | None) -> dict[str, list[str]]:
    """Rules recording with the action's ``record`` flag where the upstream owns the menus while
    sensitive input pauses recordings (a ruleset check): SVAML cannot stop that recording, and
    Manage Call is no way out (its SVAML takes only hangup, continue and park, and whether its
    ``stopRecording`` stops a flag's recording is not documented), so a card menu the upstream
    opens once the call is connected would be recorded."""
    problems = {}
    for rule in ruleset.rules:
        policy = ruleset.sensitive_for(rule.id)
        if (rule.record and rule.record.mode in ("flag", "conference") and upstream_of(rule, default_url)[0] == "merge"
                and policy.pause_recording and (policy.menus or policy.min_digits)):
            problems[f"rules[{rule.index}].record.mode"] = [
                f"mode: {rule.record.mode} records with the action's record flag, which cannot be paused for "
                "sensitive input: a card menu the upstream opens once the call is connected would be recorded; "
                "use mode: instruction, or say sensitive: {pause_recording: false} on this rule to accept that"]
    return problems


class Sidecar:
    def __init__(self, default_url: str | None, client: UpstreamClient, rules: Callable[[], Ruleset],
                 fallback: Callable[[dict], dict], applications: Mapping[str, bytes]):
        self.default_url, self.client, self.rules = default_url, client, rules
        self.fallback, self.applications = fallback, applications
        self.background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="upstream")

    def _forward(self, url: str, incoming, application_key: str | None, kind: str, expect_svaml: bool) -> UpstreamReply:
        key = application_key or next(iter(self.applications), None)
        reply = self.client.forward(url, incoming.body, incoming.content_type, key, self.applications.get(key or ""),
                                    kind, expect_svaml=expect_svaml)
        UPSTREAM_REQUESTS.labels(kind, reply.outcome).inc()
        UPSTREAM_SECONDS.labels(kind).observe(reply.millis / 1000.0)
        if not reply.ok:
            log.warning("upstream failed; the fallback answers", extra={
                "event": kind, "outcome": reply.outcome, "reason": reply.problem, "upstream": url})
        return reply

    def answer(self, event: dict, decision: Decision, call: dict | None, incoming,
               application_key: str | None) -> tuple[Decision, dict | None]:
        """The reply to an ICE/ACE/PIE in sidecar mode, built on the rules' ``decision``, and what
        the upstream answered (for the journal; None when it was not asked)."""
        kind, ruleset = event["event"], self.rules()
        rule_id = decision.rule_id or (call or {}).get("rule_id")
        mode, url = upstream_of(ruleset.rule(rule_id) if rule_id else None, self.default_url)
        if mode == "off" or url is None or decision.consent == PENDING:
            return decision, None
        reply = self._forward(url, incoming, application_key, kind, expect_svaml=True)
        base = reply.svaml if reply.ok else self.fallback(event)
        info = {"url": url, "outcome": reply.outcome, "status": reply.status, "ms": round(reply.millis, 1),
                "reply": masked(reply.svaml) if reply.svaml else None, "problem": reply.problem, "mode": mode}
        if mode == "only":
            return replace(decision, svaml=base, recordings=(), part=None), info
        # The rule that decided this callback records (an ICE rule, or an ACE/PIE rule of its own,
        # such as recording callouts on answer); else what the call's ICE rule still owes.
        part = decision.part
        if part is None and kind != "ice":
            part = pending_recording(event, ruleset, datetime.now(timezone.utc), call)
        if part is None:
            return replace(decision, svaml=base, recordings=()), info
        merged, planned, how = merge(base, part)
        info["merge"] = how
        return replace(decision, svaml=merged, recordings=(planned,) if planned else ()), info

    def pass_on(self, event: dict, incoming, application_key: str | None) -> None:
        """DiCE and notify: forwarded in the background (to UPSTREAM_CALLBACK_URL); its answer
        does not matter, and the local handling never waits for it."""
        if self.default_url is not None:
            self.background.submit(self._forward, self.default_url, incoming, application_key, event["event"], False)


def init_app(app) -> None:
    """Sidecar mode when an upstream is configured (globally or by a rule): the ``Sidecar`` the
    callbacks use (``app.extensions["sidecar"]``, else None), and the ruleset check it needs."""
    settings, holder = app.extensions["settings"], app.extensions["rules"]
    try:
        holder.add_check(lambda ruleset: {**consent_conflicts(ruleset, settings.upstream_url),
                                          **pause_conflicts(ruleset, settings.upstream_url)})
    except RulesError as error:
        raise SettingsError(f"RULES_FILE: {error}") from None
    app.extensions["sidecar"] = None
    if not settings.upstream_url and not any(r.upstream and r.upstream.url for r in holder.current.rules):
        return
    log.info("sidecar mode: callbacks are forwarded upstream", extra={"upstream": settings.upstream_url})
    app.extensions["sidecar"] = Sidecar(settings.upstream_url,
                                        UpstreamClient(settings.upstream_timeout_ms, settings.upstream_pool_size),
                                        lambda: holder.current, app.extensions["fallback"], settings.applications)
