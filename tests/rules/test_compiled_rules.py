"""The compiled rule loader against marshmallow's ``RuleSchema``, the schema of record: over a rule
of every form written in the tests, docs and benchmark, and mutants of each (every value replaced by
awkward ones, keys dropped, unknown or special keys added). Either the loader leaves a rule to
marshmallow or it loads exactly what marshmallow loads; and a whole ruleset loads, or is refused
with the same problems, with the shortcut as without it."""

from __future__ import annotations

import dataclasses
import datetime
import random
import re
from zoneinfo import ZoneInfo

import pytest
from marshmallow import ValidationError, fields, validate
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

from app.rules import yaml_reader
from app.rules.compiled import rule_loader
from app.rules.schema import RuleSchema, RulesetSchema, WhenSchema, conditions, interpolate
from benchmarks.rules import ruleset_yaml
from tests.callbacks.test_hostile_corpus import paths, replaced
from tests.processes import ROOT
from tests.rules.corpus import ruleset_texts

pytestmark = pytest.mark.embedded  # no database: once is enough (the PostgreSQL pass leaves it)

MUTANTS = [None, True, False, 0, 1, -1, 1.5, 1e308, "", "x", " ", "dialled", "hangup", "*", "+4670*", "!+46701*",
           "08:00", "24:00", "25:00", "mon-fri", "Europe/Stockholm", "Mars/Olympus", "ice", "ACE", "s3",
           [], [""], ["+4670*", "!+46701*"], ["ice", "pie"], [1], {}, {"x": 1}, {"destination": "s3"},
           {"pstn": "+46855500000"}, {"days": "mon-fri", "from": "08:00", "to": "18:00"},
           datetime.date(2026, 12, 4)]


def shape(value):
    """Equal means equal values of equal types, dataclasses field by field, sets in any order."""
    if dataclasses.is_dataclass(value):
        return type(value).__name__, tuple(shape(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return "dict", tuple((shape(k), shape(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value).__name__, tuple(shape(item) for item in value)
    if isinstance(value, frozenset):
        return "frozenset", tuple(sorted(repr(shape(item)) for item in value))
    if isinstance(value, ZoneInfo):
        return "ZoneInfo", value.key
    return type(value).__name__, repr(value)


def corpus_rules() -> list:
    """One rule of each form (keys and value types) written in the tests, docs and benchmark."""
    forms = {}
    for rule in written_rules() + yaml_reader.load(ruleset_yaml(400, random.Random(3))[0])["rules"]:
        forms.setdefault(form(rule), rule)
    return list(forms.values())


def form(value):
    if isinstance(value, dict):
        return tuple((key, form(item)) for key, item in value.items())
    if isinstance(value, list):
        return tuple(form(item) for item in value)
    return type(value).__name__


def written_rules() -> list:
    rules = []
    for _, text in ruleset_texts():
        try:
            tree = yaml_reader.pyyaml_load(text)
        except Exception:  # noqa: BLE001 - fragments that are not YAML hold no rules
            continue
        if isinstance(tree, dict) and isinstance(tree.get("rules"), list):
            environ = {name: f"value-of-{name}" for name in re.findall(r"\$\{([A-Za-z_0-9]+)", text)}
            rules += interpolate(tree, environ, True)[0]["rules"]
    return rules


def dropped(value, path):
    if len(path) == 1:
        return {k: v for k, v in value.items() if k != path[0]} if isinstance(value, dict) else value
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = dropped(value[path[0]], path[1:])
    return copy


def mutants(rule):
    yield rule
    for path in paths(rule):
        for value in MUTANTS:
            yield replaced(rule, path, value)
        yield dropped(rule, path)
    for key, value in (("extra", 1), ("to_type", "did"), ("upstream", "off"), ("sensitive", {"min_digits": 4})):
        yield {**rule, key: value}
    if isinstance(rule.get("when"), dict):
        for key, value in (("to_type", "did"), ("to.type", "did"), ("amd", "human"), ("amd", ["machine"]),
                           ("tooo", "+46"), ("event", "ace"), ("header", {"x-t": "a*"}), ("sample", 50)):
            yield {**rule, "when": {**rule["when"], key: value}}


def marshmallow_load(rule):
    try:
        return "loaded", RuleSchema().load(rule)
    except ValidationError as error:
        return "refused", error.messages


def test_the_schemas_have_only_the_hooks_the_loader_knows():
    assert not any(RuleSchema._hooks[hook] for hook in (PRE_LOAD, POST_LOAD, VALIDATES, VALIDATES_SCHEMA))
    assert {name for name, *_ in WhenSchema._hooks[PRE_LOAD]} == {"to_type_spelling"}  # to_type: left over
    assert {name for name, *_ in WhenSchema._hooks[VALIDATES_SCHEMA]} == {"amd_only_at_ace"}  # run as it is
    assert {name for name, *_ in WhenSchema._hooks[POST_LOAD]} == {"build"} and not WhenSchema._hooks[VALIDATES]


def test_every_rule_and_its_mutants_load_as_marshmallow_loads_them_or_are_left_to_it():
    rules = corpus_rules()
    assert len(rules) > 50
    schema = RuleSchema()
    load = rule_loader(schema, schema.fields["when"].schema, conditions)
    compiled = left = refused = 0
    for rule in rules:
        for candidate in mutants(rule):
            result, expected = load(candidate), marshmallow_load(candidate)
            if result is None:
                left += 1
                refused += expected[0] == "refused"
                continue
            compiled += 1
            assert expected[0] == "loaded", (candidate, expected)
            assert shape(result) == shape(expected[1]), candidate
    assert compiled > 1000 and refused > 1000 and refused > 0.8 * left  # the shortcut takes what it can


def test_the_common_rules_take_the_shortcut():
    schema = RuleSchema()
    load = rule_loader(schema, schema.fields["when"].schema, conditions)
    bench = yaml_reader.load(ruleset_yaml(400, random.Random(5))[0])["rules"]
    assert all(load(rule) is not None for rule in bench)
    example = yaml_reader.load((ROOT / "config" / "rules.example.yaml").read_text())["rules"]
    assert all(load(rule) is not None for rule in example)


class Reference(RulesetSchema):
    """The ruleset schema with marshmallow's own List for the rules: no shortcut at all."""

    rules = fields.List(fields.Nested(RuleSchema), required=True,
                        validate=validate.Length(min=1, error="needs at least the default rule"))


def test_whole_rulesets_load_or_are_refused_the_same_with_and_without_the_shortcut():
    trees = []
    for _, text in ruleset_texts():
        try:
            tree = yaml_reader.pyyaml_load(text)
        except Exception:  # noqa: BLE001
            continue
        if isinstance(tree, dict) and "rules" in tree:
            environ = {name: f"value-of-{name}" for name in re.findall(r"\$\{([A-Za-z_0-9]+)", text)}
            trees.append(interpolate(tree, environ, True)[0])
    assert len(trees) > 40
    compared = 0
    for tree in trees:
        variants = [tree]
        if isinstance(tree["rules"], list) and tree["rules"]:
            first = tree["rules"][0]
            variants += [{**tree, "rules": [mutant, *tree["rules"][1:]]} for mutant in list(mutants(first))[:60]]
            variants.append({**tree, "rules": tree["rules"] * 2})  # every id used twice
        for variant in variants:
            assert outcome(RulesetSchema(), variant) == outcome(Reference(), variant)
            compared += 1
    assert compared > 1000


def outcome(schema, tree):
    try:
        return "loaded", shape(schema.load(tree))
    except ValidationError as error:
        return "refused", error.messages

