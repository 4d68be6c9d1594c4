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
    pass


def safe(value: str) -> str:
    return _UNSAFE.sub("_", value)


@dataclass(frozen=True)
class Template:
    text: str
    names: frozenset[str]

    @classmethod
    def parse(cls, text: str, allowed: tuple[str, ...] = NAMES) -> "Template":
        """Check ``text``: only known placeholders, ``{date:…}`` with a format, balanced braces."""
        names = set()
        for match in _PLACEHOLDER.finditer(text):
            name, spec = match.group(1), match.group(2)
            if name.startswith("header."):
                if len(name) == len("header."):
                    raise TemplateError("{header.} needs a header name, e.g. {header.x-room}")
                names.add(name)
                continue
            if name not in allowed:
                raise TemplateError(f"unknown placeholder {{{name}}}; use one of "
                                    + ", ".join("{" + n + "}" for n in allowed) + " or {header.NAME}")
            if name == "date" and not spec:
                raise TemplateError("{date} needs a strftime format, e.g. {date:%Y/%m/%d}")
            if spec is not None and name != "date":
                raise TemplateError(f"{{{name}}} takes no format")
            names.add(name)
        leftover = _PLACEHOLDER.sub("", text)
        if "{" in leftover or "}" in leftover:
            raise TemplateError("has an unbalanced { or }")
        return cls(text, frozenset(names))

    def fill(self, values: Mapping[str, object], now: datetime) -> str:
        def replace(match: re.Match) -> str:
            name, spec = match.group(1), match.group(2)
            if name == "date":  # written by the ruleset's author, not the caller: "/" may make folders
                return now.strftime(spec)
            return safe(str(values.get(name, "")))
        return _PLACEHOLDER.sub(replace, self.text)
