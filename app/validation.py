"""How validation errors are named: marshmallow's nested messages as dotted paths.

``{"rules": {3: {"when": {"to": {1: ["..."]}}}}}`` becomes ``{"rules[3].when.to[1]": ["..."]}``,
the form every error message of this service uses, for callbacks, SVAML and rulesets alike.
"""

from __future__ import annotations

import re
from datetime import timezone
from typing import Any

from flask import abort, request
from marshmallow import fields


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict as ``{"to.type": [...], "callHeaders[0].key": [...]}``."""
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_body": messages}
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for name, inner in messages.items():
            if isinstance(name, int):
                path = f"{prefix}[{name}]"
            elif name == "_schema":
                path = prefix
            else:
                path = f"{prefix}.{name}" if prefix else str(name)
            for key, value in flatten_messages(inner, path).items():
                flat.setdefault(key, []).extend(value)
    else:
        flat[prefix or "_body"] = [str(messages)]
    return flat


def describe(flat: dict[str, list[str]]) -> str:
    return "; ".join(f"{path}: {' '.join(text)}" for path, text in sorted(flat.items()))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Text(fields.String):
    """A string taken in from outside that a database can store and a log can print: a NUL or
    a lone UTF-16 surrogate (JSON ``"\\ud800"``) is refused by name instead of failing later."""

    default_error_messages = {"unstorable": "contains a character no text can hold (a NUL or a lone surrogate)"}
    PATTERN = r"^[^\x00\ud800-\udfff]*$"  # what is taken
    # What the OpenAPI document says: a pattern every regex engine takes (Go's and Rust's refuse
    # surrogates in a class), the surrogates in words.
    DOCUMENTED = r"^[^\x00]*$"
    SAID = "No NUL and no lone UTF-16 surrogate (\\ud800-\\udfff)."

    def __init__(self, *args, **kwargs):
        given = kwargs.get("metadata", {})
        said = " ".join(filter(None, (given.get("description"), self.SAID)))
        kwargs["metadata"] = {"pattern": self.DOCUMENTED, **given, "description": said}
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _UNSTORABLE.search(text):
            raise self.make_error("unstorable")
        return text


def ids_in_the_path_are_text() -> None:
    """``before_request`` of the API and the operator page: an id with a NUL in it (``%00``) is
    refused by name (400) instead of reaching a database that cannot compare it (a 500)."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and unstorable(value):
            abort(400, f"{name}: contains a character no id has (a NUL or a lone surrogate)")


def unstorable(text: str) -> bool:
    """Does ``text`` hold a character no text column can (a NUL or a lone surrogate)?"""
    return _UNSTORABLE.search(text) is not None


class Moment(fields.AwareDateTime):
    """An ISO-8601 time with its zone that is a moment in UTC too (``0001-01-01T00:00+01:00`` is not)."""

    default_error_messages = {"range": "is out of range once in UTC"}

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError:
            raise self.make_error("range") from None
