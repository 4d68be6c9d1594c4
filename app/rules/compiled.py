"""The common rule loaded without marshmallow's per-schema machinery: a shortcut, never a replacement.

A ruleset of 100 000 rules is mostly the same few shapes — ``{id, when: {to, hours}, connect,
record}`` — and marshmallow spends ~70 µs a rule walking its schemas for them. :func:`rule_loader`
builds, from the schemas themselves, a function that loads such a rule into exactly the dict
``RuleSchema`` loads, calling the very fields marshmallow would call:

- ``id`` and each ``when`` condition: the field's own ``deserialize`` (its type check, its
  conversion, its validators), then ``WhenSchema``'s own schema validators and the builder its
  ``post_load`` calls.
- ``record``, ``connect``, ``upstream``, ``sensitive`` and ``when.hours``: the field's
  ``deserialize`` once per distinct value in the file (keyed by value and type), so a connect
  target or a destination's template that a thousand rules share is parsed once.

Anything else — a key no field takes (``to_type`` among them: a ``pre_load`` renames it), a value
a field or a validator refuses — answers None and the caller asks marshmallow, so every refusal
and its message is marshmallow's. ``tests/rules/test_compiled_rules.py`` holds the two equal
over a rule of every form in the tests, docs and benchmark, and their mutants.
"""

from __future__ import annotations

from typing import Any, Callable

from marshmallow import Schema, ValidationError
from marshmallow.decorators import VALIDATES_SCHEMA

Loader = Callable[[Any], "dict | None"]
SHARED = ("record", "connect", "upstream", "sensitive", "hours")  # loaded once per distinct value


class _Unknown(Exception):
    """Not the common case."""


def rule_loader(rule_schema: Schema, when_schema: Schema, conditions: Callable[[dict], Any]) -> Loader:
    """A fresh loader (its cache lives as long as it does): the dict ``rule_schema`` loads, or None."""
    rule_fields = {field.data_key or name: (name, field) for name, field in rule_schema.load_fields.items()}
    # ``to_type`` is no field's key (WhenSchema's pre_load renames it to ``to.type``): left to marshmallow.
    when_fields = {field.data_key or name: (name, field) for name, field in when_schema.load_fields.items()}
    when_checks = [getattr(when_schema, name) for name, *_ in when_schema._hooks[VALIDATES_SCHEMA]]
    id_field = rule_fields["id"][1]
    # Fields whose deserialize, given a value that is not None, is their _deserialize alone.
    bare = {field for _, field in when_fields.values() if not (field.validators or field.pre_load or field.post_load)}
    shared: dict[str, dict] = {key: {} for key in SHARED}

    def once(key: str, field, raw: Any, data: dict) -> Any:
        frozen, cache = _freeze(raw), shared[key]
        loaded = cache.get(frozen, cache)
        if loaded is cache:
            loaded = cache[frozen] = field.deserialize(raw, key, data)
        return loaded

    # What marshmallow gives a rule that names only its id, in the schema's order (the id is required).
    defaults = {name: field.load_default for name, field in rule_schema.load_fields.items()}

    def when(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not dict:
            raise _Unknown
        data = {}
        for key, raw in value.items():
            entry = when_fields.get(key)
            if entry is None:
                raise _Unknown
            name, field = entry
            if key in shared:
                data[name] = once(key, field, raw, value)
            elif raw is not None and field in bare:  # what deserialize would do, without its checks
                data[name] = field._deserialize(raw, key, value)
            else:
                data[name] = field.deserialize(raw, key, value)
        for check in when_checks:  # WhenSchema's validates_schema hooks, as marshmallow calls them
            check(data, partial=None, many=False)
        return conditions(data)

    def load(item: Any) -> dict | None:
        if type(item) is not dict or "id" not in item:
            return None
        result = dict(defaults)
        try:
            for key, raw in item.items():
                if key == "when":
                    result["when"] = when(raw)
                elif key == "id":
                    result["id"] = id_field.deserialize(raw, key, item)
                elif key in shared and key in rule_fields:
                    name, field = rule_fields[key]
                    result[name] = once(key, field, raw, item)
                else:
                    return None
        except (_Unknown, ValidationError):
            return None
        except Exception:  # noqa: BLE001 - whatever else a field raises, marshmallow raises it the same way
            return None
        return result

    return load


def _freeze(value: Any) -> Any:
    """A hashable key telling apart what a field could load differently (``1`` from ``True``)."""
    kind = type(value)
    if kind is dict:
        return kind, tuple((key, _freeze(item)) for key, item in value.items())
    if kind is list:
        return kind, tuple(_freeze(item) for item in value)
    if kind is float:
        return kind, repr(value)
    hash(value)  # TypeError for anything unhashable: not the common case
    return kind, value
