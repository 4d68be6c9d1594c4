"""How validation errors are named: marshmallow's nested messages as dotted paths.

``{"rules": {3: {"when": {"to": {1: ["..."]}}}}}`` becomes ``{"rules[3].when.to[1]": ["..."]}``,
the form every error message of this service uses, for callbacks, SVAML and rulesets alike.
"""

from __future__ import annotations

from typing import Any


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
