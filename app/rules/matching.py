"""The conditions a rule can put on a call, each a small pure matcher.

Numbers are compared by their digits (``+46 8-123`` and ``468123`` are the same number, and
Sinch sends ``cli`` with and without ``+``); other values (app user names, SIP addresses, header
values) case-insensitively. A pattern is exact, a prefix ending in ``*``, ``*`` alone (any value,
but present) or any of these negated with a leading ``!``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

_PHONE = re.compile(r"^\+?[0-9(][0-9 ().\-]*$")
_NOT_DIGIT = re.compile(r"[^0-9]")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def canonical(value: str) -> str:
    """The form values and patterns are compared in: digits for numbers, else lower case."""
    value = value.strip()
    if _PHONE.match(value):
        return _NOT_DIGIT.sub("", value)
    return value.lower()


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str        # as written, for explanations
    value: str       # canonical, without ! and *
    prefix: bool
    negated: bool

    @classmethod
    def parse(cls, text: str) -> "Pattern":
        raw = text.strip()
        negated = raw.startswith("!")
        body = raw[1:].strip() if negated else raw
        prefix = body.endswith("*")
        if prefix:
            body = body[:-1]
        if "*" in body:
            raise ValueError(f"'{text}': * may only end a pattern (a prefix), e.g. +4681234*")
        if not body and not prefix:
            raise ValueError("an empty pattern matches nothing; use * for any value")
        return cls(text, canonical(body) if body else "", prefix, negated)

    def matches(self, value: str) -> bool:
        return value.startswith(self.value) if self.prefix else value == self.value


@dataclass(frozen=True, slots=True)
class PatternSet:
    """Matches when some positive pattern matches (or there are none) and no negative does."""

    positive: tuple[Pattern, ...]
    negative: tuple[Pattern, ...]

    @classmethod
    def parse(cls, patterns: list[str]) -> "PatternSet":
        parsed = [Pattern.parse(p) for p in patterns]
        return cls(tuple(p for p in parsed if not p.negated), tuple(p for p in parsed if p.negated))

    def match(self, value: str | None) -> str | None:
        """The pattern that matched (text), or None when the set does not match ``value``."""
        if value is None:
            return None if self.positive else "(absent)"
        value = canonical(value)
        for pattern in self.negative:
            if pattern.matches(value):
                return None
        if not self.positive:
            return " ".join(p.text for p in self.negative)
        for pattern in self.positive:
            if pattern.matches(value):
                return pattern.text
        return None

    def describe(self) -> str:
        return ", ".join(p.text for p in self.positive + self.negative)


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly time window in an IANA time zone; ``start > end`` spans midnight."""

    days: frozenset[int]
    start: time
    end: time
    tz: ZoneInfo
    text: str

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.tz)
        clock, day = local.time(), local.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= clock < self.end
        return (day in self.days and clock >= self.start) or ((day - 1) % 7 in self.days and clock < self.end)


def parse_days(spec: str | list[str]) -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``["mon", "wed"]``, ``fri-mon`` (wrapping) or ``all``."""
    items = spec if isinstance(spec, list) else [part for part in spec.split(",")]
    days: set[int] = set()
    for item in (i.strip().lower() for i in items):
        if item in ("all", "*", "every day"):
            return frozenset(range(7))
        first, _, last = item.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"'{item}' is not a day or range; write mon, tue, … sun or ranges like mon-fri")
        start, end = DAYS.index(first), DAYS.index(last or first)
        span = (end - start) % 7
        days.update((start + offset) % 7 for offset in range(span + 1))
    if not days:
        raise ValueError("no days given; write e.g. mon-fri")
    return frozenset(days)


def sample_bucket(rule_id: str, call_id: str) -> int:
    """0..9999, the same for a call and rule in every process and after restarts."""
    digest = hashlib.sha256(f"{rule_id}\x00{call_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def in_sample(percent: float, rule_id: str, call_id: str) -> tuple[bool, int]:
    bucket = sample_bucket(rule_id, call_id)
    return bucket < round(percent * 100), bucket
