"""Compiled loaders for the callback and SVAML schemas: the hot path's shortcut, never their
replacement.

:func:`compile_loader` reads a marshmallow schema's declared fields, validators and schema
validators once and builds plain functions that load the common case — every declared field of
exactly its plain JSON type (string, integer, number, boolean, object, list), passing its
validators — into exactly the dict the schema's ``load`` returns, at a tenth of its cost. For
anything else the loader answers None (it does not know) and the caller asks marshmallow, which
stays the schema of record: every refusal, and its message naming the field, is marshmallow's.
``tests/sinch/test_compiled_loader.py`` holds the two side by side over Sinch's SDK fixtures, the
hostile corpus and their mutants.

A schema compiles when it keeps (INCLUDE) or refuses (RAISE) unknown keys, has no load
processors (``pre_load``/``post_load``) and no field ``validates`` hooks; its
``validates_schema`` hooks are run as marshmallow runs them. A field type that converts values
(marshmallow's ``Float`` turns 1 into 1.0) is mirrored exactly; one this module does not know is
refused when the loader is built, unless ``same_as`` maps it to the marshmallow field it loads a
value of that field's plain type exactly as (a String subclass that also takes numbers, a
Boolean that takes only booleans): values of other types are left to marshmallow.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from marshmallow import INCLUDE, RAISE, Schema, fields
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow_oneofschema import OneOfSchema

Loader = Callable[[dict], "dict | None"]


class _Unknown(Exception):
    """Not the common case: let marshmallow decide."""


def compile_loader(schema: Schema, *, same_as: dict[type, type] | None = None) -> Loader:
    """A loader for ``schema``: the dict ``schema.load`` would return, or None."""
    plan = _schema_plan(schema, schema.unknown, same_as or {})

    def load(data: Any) -> dict | None:
        try:
            return plan(data)
        except _Unknown:
            return None
    return load


def _schema_plan(schema: Schema, unknown: str, same_as) -> Callable[[Any], dict]:
    if isinstance(schema, OneOfSchema):
        return _one_of_plan(schema, unknown, same_as)
    if unknown not in (INCLUDE, RAISE) or any(schema._hooks[hook] for hook in (PRE_LOAD, POST_LOAD, VALIDATES)):
        raise TypeError(f"{type(schema).__name__}: only schemas without load hooks that include or refuse unknown "
                        "keys compile")
    validators = []
    for name, many, options in schema._hooks[VALIDATES_SCHEMA]:
        if many or options.get("pass_original"):
            raise TypeError(f"{type(schema).__name__}.{name}: only plain schema validators compile")
        validators.append(getattr(schema, name))
    steps = tuple((field.data_key or name, name, _field_plan(field, same_as), field.required)
                  for name, field in schema.fields.items() if not field.dump_only)
    keys = {key for key, *_ in steps}
    names = {name for _, name, *_ in steps}
    include = unknown == INCLUDE

    def load(data: Any) -> dict:
        if type(data) is not dict:
            raise _Unknown
        out = {}
        for key, name, convert, required in steps:
            if key in data:
                out[name] = convert(data[key])
            elif required:
                raise _Unknown
        for key in data:
            if key not in keys:
                if not include or key in names:  # refused, or spelt as a field's name: marshmallow decides
                    raise _Unknown
                out[key] = data[key]
        for validator in validators:
            try:
                validator(out, partial=None, many=False, unknown=unknown)
            except Exception:
                raise _Unknown from None
        return out
    return load


def _one_of_plan(schema: OneOfSchema, unknown: str, same_as) -> Callable[[Any], dict]:
    """oneofschema's dispatch: the type schema named by ``type_field``, loaded with the
    ``unknown`` of the one-of schema (as oneofschema passes it down)."""
    if schema.type_field_remove:
        raise TypeError(f"{type(schema).__name__}: only one-of schemas that keep their type field compile")
    plans = {name: _schema_plan(type_schema, unknown, same_as) for name, type_schema in schema.type_schemas.items()}
    field = schema.type_field

    def load(data: Any) -> dict:
        if type(data) is not dict or type(data.get(field)) is not str or data[field] not in plans:
            raise _Unknown
        return plans[data[field]](data)
    return load


def _field_plan(field: fields.Field, same_as) -> Callable[[Any], Any]:
    """The field's load: its conversion, then its validators (a validator returning False
    fails, as in marshmallow)."""
    if field.allow_none:
        raise TypeError(f"{field!r}: fields that allow null do not compile")
    convert = _converter(field, same_as)
    validators = tuple(field.validators)
    if not validators:
        return convert

    def load(value: Any) -> Any:
        value = convert(value)
        for validator in validators:
            try:
                passed = validator(value) is not False
            except Exception:  # refused (or a validator that fails): marshmallow decides, as it would
                raise _Unknown from None
            if not passed:
                raise _Unknown
        return value
    return load


def _converter(field: fields.Field, same_as) -> Callable[[Any], Any]:
    kind = same_as.get(type(field), type(field))
    if kind is fields.String:
        return _string
    if kind is fields.Boolean:
        return _boolean
    if kind is fields.Integer and field.strict:
        return _integer
    if kind is fields.Float and not field.allow_nan:
        return _number
    if kind is fields.Nested and field.unknown is None:
        return _schema_plan(field.schema, field.schema.unknown, same_as)
    if kind is fields.List:
        inner = _field_plan(field.inner, same_as)
        return lambda value: [inner(item) for item in _list(value)]
    raise TypeError(f"{kind.__name__} does not compile")


def _exactly(kind: type) -> Callable[[Any], Any]:
    """A value of exactly this JSON type, as it is (no subclass: ``True`` is not an integer)."""
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _Unknown
        return value
    return check


_string, _boolean, _integer, _list = _exactly(str), _exactly(bool), _exactly(int), _exactly(list)


def _number(value: Any) -> float:
    if type(value) is not float and type(value) is not int:
        raise _Unknown
    try:
        number = float(value)
    except OverflowError:
        raise _Unknown from None
    if not math.isfinite(number):
        raise _Unknown
    return number
