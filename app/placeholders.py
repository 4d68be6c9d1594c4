"""Placeholder templates filled from a call: ``{callid}``, ``{date:%Y/%m/%d}``, ``{header.x-room}``.

Recording keys and conference ids are written this way in the ruleset. Values coming from a
call are made safe for an object key: anything but letters, digits and ``._+@=-`` becomes ``_``,
so a caller cannot steer a key into another folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)(?::([^{}]*))?\}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+@=\-]")

# Every name a template may use; header.<name> is allowed on top of these.
NAMES = ("callid", "segment", "uuid", "rule", "cli", "to", "format", "date")


class TemplateError(ValueError):
    """What is wrong with a template: every problem found, in the order a user fixes them."""

    def __init__(self, *problems: str):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def safe(value: str) -> str:
    return _UNSAFE.sub("_", value)


def names_in(text: str) -> frozenset[str]:
    """The placeholder names a template uses, well-formed or not."""
    return frozenset(match.group(1) for match in _PLACEHOLDER.finditer(text))


@dataclass(frozen=True)
class Template:
    text: str
    names: frozenset[str]

    @classmethod
    def parse(cls, text: str, allowed: tuple[str, ...] = NAMES) -> "Template":
        """Check ``text``: only known placeholders, ``{date:…}`` with a format, balanced braces.
        Raises :class:`TemplateError` with every problem found."""
        problems = []
        for match in _PLACEHOLDER.finditer(text):
            name, spec = match.group(1), match.group(2)
            if name.startswith("header."):
                if len(name) == len("header."):
                    problems.append("{header.} needs a header name, e.g. {header.x-room}")
            elif name not in allowed:
                problems.append(f"unknown placeholder {{{name}}}; use one of "
                                + ", ".join("{" + n + "}" for n in allowed) + " or {header.NAME}")
            elif name == "date" and not spec:
                problems.append("{date} needs a strftime format, e.g. {date:%Y/%m/%d}")
            elif spec is not None and name != "date":
                problems.append(f"{{{name}}} takes no format")
        leftover = _PLACEHOLDER.sub("", text)
        if "{" in leftover or "}" in leftover:
            problems.append("has an unbalanced { or }")
        if problems:
            raise TemplateError(*problems)
        return cls(text, names_in(text))

    def fill(self, values: Mapping[str, object], now: datetime) -> str:
        def replace(match: re.Match) -> str:
            name, spec = match.group(1), match.group(2)
            if name == "date":  # written by the ruleset's author, not the caller: "/" may make folders
                return now.strftime(spec)
            return safe(str(values.get(name, "")))
        return _PLACEHOLDER.sub(replace, self.text)
