"""Finding the first rule that matches a call, without scanning every rule.

Each rule with positive ``to`` patterns is indexed under them (else under its ``cli`` patterns):
exact numbers in a map, prefixes in a trie. A call's candidates are the rules its ``to`` and
``cli`` hit in those indexes plus the few rules indexed under neither ("open" rules, such as the
default), merged in rule order; the first candidate whose every condition holds wins. Decision
time therefore depends on how many rules a number hits, not on how many rules there are.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from app.rules.matching import canonical, in_sample
from app.rules.model import Rule

_END = ""  # trie key holding the rules whose prefix ends at this node


@dataclass(frozen=True, slots=True)
class Facts:
    """What rules can match on, taken once from the callback (or the call's stored ICE)."""

    event: str
    call_id: str
    domain: str | None = None
    origin: str | None = None
    cli: str | None = None
    to: str | None = None
    to_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    custom: str | None = None
    application_key: str | None = None
    amd: str | None = None      # the ACE's amd.status (machine, human, notsure, hangup, inprogress)

    @classmethod
    def from_ice(cls, event: dict, kind: str | None = None) -> "Facts":
        to = event.get("to") or {}
        origination = str(event.get("origination_type") or event.get("domain") or "").lower()
        return cls(
            event=kind or event["event"], call_id=event["callid"],
            domain=(str(event["domain"]).lower() if event.get("domain") else None),
            origin={"pstn": "pstn", "mxp": "app"}.get(origination),
            cli=event.get("cli"), to=to.get("endpoint"),
            to_type=(str(to["type"]).lower() if to.get("type") else None),
            headers=tuple((h["key"].lower(), h["value"]) for h in event.get("call_headers") or ()),
            custom=event.get("custom"), application_key=event.get("application_key"),
        )

    @classmethod
    def from_record(cls, record: dict, event: str) -> "Facts":
        """The facts stored with a call (``Decision.call_facts``), for a later ``event`` of it."""
        return cls(**{**record, "event": event, "headers": tuple(map(tuple, record["headers"]))})

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


def evaluate(rule: Rule, facts: Facts, now: datetime) -> tuple[dict[str, str] | None, str]:
    """``(matched attributes, "")`` when every condition holds, else ``(None, why not)``."""
    when, matched = rule.when, {}
    if facts.event not in when.events:
        return None, f"applies to {'/'.join(sorted(when.events))}, not {facts.event}"
    if when.domain is not None:
        if facts.domain not in when.domain:
            return None, f"domain {facts.domain or '(none)'} is not {'/'.join(sorted(when.domain))}"
        matched["domain"] = facts.domain
    if when.origin is not None:
        if facts.origin != when.origin:
            return None, f"origin {facts.origin or '(unknown)'} is not {when.origin}"
        matched["origin"] = when.origin
    if when.to_type is not None:
        if facts.to_type not in when.to_type:
            return None, f"to.type {facts.to_type or '(none)'} is not {'/'.join(sorted(when.to_type))}"
        matched["to.type"] = facts.to_type
    for name, patterns, value in (("to", when.to, facts.to), ("cli", when.cli, facts.cli),
                                  ("application_key", when.application_key, facts.application_key),
                                  ("custom", when.custom, facts.custom)):
        if patterns is None:
            continue
        hit = patterns.match(value)
        if hit is None:
            return None, f"{name} {value or '(none)'} does not match {patterns.describe()}"
        matched[name] = hit
    for name, patterns in when.headers:
        hit = patterns.match(facts.header(name))
        if hit is None:
            return None, f"header {name} {facts.header(name) or '(absent)'} does not match {patterns.describe()}"
        matched[f"header.{name}"] = hit
    if when.amd is not None:
        verdict = facts.amd or "none"  # none: detection was not enabled for this leg
        if verdict not in when.amd:
            return None, f"amd {verdict} is not {'/'.join(sorted(when.amd))}"
        matched["amd"] = verdict
    if when.hours:
        window = next((w for w in when.hours if w.contains(now)), None)
        if window is None:
            return None, f"{now.isoformat(timespec='minutes')} is outside {'; '.join(w.text for w in when.hours)}"
        matched["hours"] = window.text
    if when.sample is not None:
        chosen, bucket = in_sample(when.sample, rule.id, facts.call_id)
        if not chosen:
            return None, f"not in the {when.sample:g}% sample (bucket {bucket / 100:.2f})"
        matched["sample"] = f"{when.sample:g}% (bucket {bucket / 100:.2f})"
    return matched, ""


class RuleIndex:
    """Exact map + prefix trie over ``to`` and ``cli`` patterns (see the module docstring), and the
    rules by id, all in one pass over the rules."""

    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules
        self.by_id = {rule.id: rule for rule in rules}  # ids are unique (the schema refuses a repeat)
        self.open: list[int] = []
        self.exact: dict[str, dict[str, list[int]]] = {"to": defaultdict(list), "cli": defaultdict(list)}
        self.trie: dict[str, dict] = {"to": {}, "cli": {}}
        for rule in rules:
            field = next((name for name in ("to", "cli")
                          if getattr(rule.when, name) is not None and getattr(rule.when, name).positive), None)
            if field is None:
                self.open.append(rule.index)
                continue
            for pattern in getattr(rule.when, field).positive:
                if not pattern.prefix:
                    self.exact[field][pattern.value].append(rule.index)
                    continue
                node = self.trie[field]
                for char in pattern.value:
                    node = node.setdefault(char, {})
                node.setdefault(_END, []).append(rule.index)

    def _hits(self, field: str, value: str | None) -> list[list[int]]:
        if value is None:
            return []
        value = canonical(value)
        lists = []
        exact = self.exact[field].get(value)
        if exact:
            lists.append(exact)
        node = self.trie[field]
        if _END in node:
            lists.append(node[_END])
        for char in value:
            node = node.get(char)
            if node is None:
                break
            if _END in node:
                lists.append(node[_END])
        return lists

    def candidates(self, facts: Facts) -> Iterator[int]:
        lists = [self.open, *self._hits("to", facts.to), *self._hits("cli", facts.cli)]
        last = -1
        for index in (heapq.merge(*lists) if len(lists) > 1 else lists[0]):
            if index != last:
                last = index
                yield index

    def first_match(self, facts: Facts, now: datetime) -> tuple[Rule | None, dict[str, str]]:
        for index in self.candidates(facts):
            rule = self.rules[index]
            matched, _ = evaluate(rule, facts, now)
            if matched is not None:
                return rule, matched
        return None, {}


def explain(rules: tuple[Rule, ...], facts: Facts, now: datetime) -> list[tuple[Rule, dict | None, str]]:
    """Every rule up to the first match, each with what matched or why not (a plain scan)."""
    steps = []
    for rule in rules:
        matched, why = evaluate(rule, facts, now)
        steps.append((rule, matched, why))
        if matched is not None:
            break
    return steps
