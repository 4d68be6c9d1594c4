"""The compiled loaders against marshmallow, the schema of record. Callbacks: over Sinch's SDK
fixtures, our own payloads, the hostile corpus (every field of every callback replaced by each
hostile value) and type mutants of every field. SVAML: over the SDKs' SVAML, the replies our
rules and fallback build, and the same mutants. Either the loader leaves a document to
marshmallow or it loads exactly what marshmallow loads (same keys, same values, same JSON
types): so every acceptance and every refusal, with the field it names, is what marshmallow
decides; and the common case — every SDK callback, every reply we build — takes the shortcut."""

from __future__ import annotations

import json

import pytest
from marshmallow import INCLUDE, Schema, ValidationError, fields, pre_load

from app.sinch import events, svaml
from app.sinch.compiled import compile_loader
from app.sinch.fallback import Fallback
from tests import payloads
from tests.callbacks.test_hostile_corpus import HOSTILE, TEMPLATES, paths, replaced
from tests.sdk_fixtures import sdk_fixtures

MUTANTS = [None, True, False, 0, 1, -1, 2**31, 2**70, 1.0, 1.5, -0.0, 1e308, "", "1", "1.5", "nan", "\ud800",
           [], [{}], {}, {"key": "k", "value": "v"}]


def marshmallow_load(data: dict, schema=events._callback_schema):
    try:
        return "loaded", schema.load(data)
    except ValidationError as error:
        return "refused", error.messages
    except Exception as error:  # what marshmallow itself raises (an overflow), kept as it is
        return "raised", type(error).__name__


def exact(value) -> str:
    """A form that tells 1 from 1.0 and True from 1."""
    return json.dumps(value, sort_keys=True, default=repr) + repr(sorted(_types(value)))


def _types(value, path=""):
    yield f"{path}:{type(value).__name__}"
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _types(inner, f"{path}/{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _types(inner, f"{path}/{index}")


def callbacks():
    sdk = [fixture.payload for fixture in sdk_fixtures("callback")]
    ours = [value for value in vars(payloads).values() if isinstance(value, dict) and value.get("event")]
    for template in sdk + ours:
        yield template
        for path in paths(template):
            for value in MUTANTS:
                yield replaced(template, path, value)
    for template in TEMPLATES:
        for path in paths(template):
            for value in HOSTILE:
                yield replaced(template, path, value)


def test_the_compiled_loader_loads_what_marshmallow_loads_or_leaves_it_to_marshmallow():
    compiled, deferred, checked = 0, 0, 0
    for data in callbacks():
        if data.get("event") not in events.EVENTS:
            continue
        checked += 1
        if "callid" not in data and "callId" in data:
            data = {**data, "callid": data["callId"]}
            del data["callId"]
        loaded = events._compiled(data)
        if loaded is None:
            deferred += 1
            continue
        compiled += 1
        outcome, expected = marshmallow_load(data)
        assert outcome == "loaded", (data, expected)  # never accepts what marshmallow refuses
        assert exact(loaded) == exact(expected), data
    print(f"{checked} callbacks: {compiled} loaded by the compiled loader, {deferred} left to marshmallow")
    assert checked > 5000 and compiled > 1000 and deferred > 1000  # both ways are exercised


@pytest.mark.parametrize("fixture", sdk_fixtures("callback"), ids=str)
def test_every_sdk_callback_takes_the_shortcut(fixture):
    data = dict(fixture.payload)
    if "callid" not in data and "callId" in data:
        data["callid"] = data.pop("callId")
    outcome, expected = marshmallow_load(data)
    assert outcome == "loaded"
    assert events._compiled(data) is not None
    assert events.parse_callback(json.dumps(fixture.payload).encode()) == expected


def test_schemas_the_loader_cannot_mirror_are_refused_when_it_is_built():
    class Hooked(Schema):
        class Meta:
            unknown = INCLUDE
        name = fields.String()

        @pre_load
        def change(self, data, **kwargs):
            return data

    class Nullable(Schema):
        class Meta:
            unknown = INCLUDE
        name = fields.String(allow_none=True)

    for schema in (Hooked(), Nullable()):
        with pytest.raises(TypeError):
            compile_loader(schema)


def replies():
    """SVAML: the SDKs', and what our fallback answers to each of our callbacks."""
    yield from (fixture.payload for fixture in sdk_fixtures("svaml"))
    fallback = Fallback()
    for value in vars(payloads).values():
        if isinstance(value, dict) and value.get("event") in events.ANSWERED_EVENTS:
            yield fallback(events.parse_callback(json.dumps(value).encode()))


def test_the_compiled_svaml_check_loads_what_marshmallow_loads_or_leaves_it_to_marshmallow():
    compiled, deferred = 0, 0
    for template in replies():
        for doc in [template, *(replaced(template, path, value) for path in paths(template) for value in MUTANTS)]:
            loaded = svaml._compiled(doc)
            if loaded is None:
                deferred += 1
                continue
            compiled += 1
            outcome, expected = marshmallow_load(doc, svaml._svaml_schema)
            assert outcome == "loaded", (doc, expected)
            assert exact(loaded) == exact(expected), doc
    print(f"{compiled + deferred} SVAML documents: {compiled} checked by the compiled loader, {deferred} by marshmallow")
    assert compiled > 100 and deferred > 1000


def test_the_replies_we_build_take_the_shortcut(sinch):
    for value in vars(payloads).values():
        if isinstance(value, dict) and value.get("event") in events.ANSWERED_EVENTS:
            reply = sinch.post(value)
            assert reply.status_code == 200 and svaml._compiled(reply.json) is not None, reply.json
