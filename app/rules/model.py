"""The loaded ruleset: destinations and ordered rules, as immutable values.

Secrets (the credentials handed to Sinch and the service's own read credentials) live only in
:class:`Destination` and never show in its ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from app.placeholders import Template
from app.rules.matching import PatternSet, Window
from app.storage.keys import KeyTemplate

if TYPE_CHECKING:
    from app.rules.engine import RuleIndex


@dataclass(frozen=True)
class Destination:
    name: str
    url: KeyTemplate
    sinch_credentials: str = field(repr=False)  # "" for a profile only copies go to
    read: Mapping[str, str] = field(repr=False)
    format: str = "mp3"
    transcription_locale: str | None = None
    write: Mapping[str, str] = field(default_factory=dict, repr=False)  # how copies write here (else: read)

    @property
    def copy_credentials(self) -> Mapping[str, str]:
        """What the service writes a copy with: ``write:``, or ``read:`` when there is none."""
        return self.write or self.read
    @property
    def scheme(self) -> str:
        return self.url.scheme


@dataclass(frozen=True)
class EvidenceCopies:
    """``evidence:``: the destination every signed tree head is also written to, under ``prefix``."""
    destination: str
    prefix: str = "evidence/"


@dataclass(frozen=True)
class Conditions:
    events: frozenset[str] = frozenset({"ice"})
    domain: frozenset[str] | None = None
    origin: str | None = None                      # pstn (inbound PSTN), app (app-originated) or
                                                   # callout (an ACE of a call we saw no ICE for)
    cli: PatternSet | None = None
    to: PatternSet | None = None
    to_type: frozenset[str] | None = None
    headers: tuple[tuple[str, PatternSet], ...] = ()
    custom: PatternSet | None = None
    application_key: PatternSet | None = None
    hours: tuple[Window, ...] = ()
    sample: float | None = None
    amd: frozenset[str] | None = None              # answering-machine detection's verdict, at ACE

    @property
    def is_default(self) -> bool:
        return self == Conditions()


@dataclass(frozen=True)
class Announcement:
    say: str | None = None
    play: tuple[str, ...] = ()
    locale: str | None = None


@dataclass(frozen=True)
class Consent:
    prompt: str
    accept: str = "1"
    locale: str | None = None
    timeout_ms: int = 5000
    repeats: int = 1


@dataclass(frozen=True)
class RecordPlan:
    destination: str
    format: str | None = None                      # None: the destination's default
    mode: str = "instruction"                      # instruction | flag | conference
    announce: Announcement | None = None
    consent: Consent | None = None
    transcription_locale: str | None = None
    retain_days: int | None = None                 # delete the file this many days after recording


@dataclass(frozen=True)
class Connect:
    kind: str                                      # dialled | pstn | sip | user | conference | continue | hangup
    target: Template | None = None
    cli: str | None = None
    max_duration: int | None = None
    dial_timeout: int | None = None
    transport: str | None = None
    moh: str | None = None


@dataclass(frozen=True)
class Upstream:
    """Sidecar mode for a rule: ``merge`` the recording into the upstream's reply, leave the
    reply alone (``only``) or answer from the rules without the upstream (``off``)."""

    mode: str = "merge"
    url: str | None = None  # None: UPSTREAM_CALLBACK_URL


@dataclass(frozen=True)
class Sensitive:
    """Which menus take sensitive input (card numbers, CVVs, PINs): those named in ``menus``, and
    any whose ``maxDigits`` reaches ``min_digits`` (0: no guess). Their digits are redacted before
    anything is kept, and a running recording is paused while they are open (``pause_recording``)."""

    menus: frozenset[str] = frozenset()
    min_digits: int = 12
    pause_recording: bool = True

    def covers(self, menu: dict) -> bool:
        """Does this SVAML menu (``{"id", "maxDigits", …}``) take sensitive input?"""
        if menu.get("id") in self.menus:
            return True
        digits = menu.get("maxDigits")
        return bool(self.min_digits) and isinstance(digits, int) and digits >= self.min_digits


@dataclass(frozen=True)
class Rule:
    id: str
    index: int
    when: Conditions
    connect: Connect
    record: RecordPlan | None = None
    upstream: Upstream | None = None  # None: merge when UPSTREAM_CALLBACK_URL is set
    sensitive: Sensitive | None = None  # None: the ruleset's


@dataclass(frozen=True)
class WebhookEndpoint:
    """A receiver of the catalogue's events (the ruleset's ``webhooks:``): where, the key its
    deliveries are signed with (the decoded ``whsec_…`` secret, never shown) and the event types
    it takes (globs; empty: all)."""

    name: str
    url: str
    key: bytes = field(repr=False)
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ruleset:
    version: int
    destinations: Mapping[str, Destination]
    rules: tuple[Rule, ...]
    hash: str
    source: str = "<memory>"
    sensitive: Sensitive = Sensitive()
    webhooks: Mapping[str, WebhookEndpoint] = field(default_factory=dict)
    evidence: EvidenceCopies | None = None
    index: "RuleIndex | None" = field(default=None, compare=False, repr=False)  # built by the loader

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id (by the index's map when the loader built one: ACE and PIE ask)."""
        if self.index is not None:
            return self.index.by_id.get(rule_id)
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def sensitive_for(self, rule_id: str | None) -> Sensitive:
        """What is sensitive on a call answered by this rule: its own setting, else the ruleset's."""
        rule = self.rule(rule_id) if rule_id else None
        return rule.sensitive if rule is not None and rule.sensitive is not None else self.sensitive
