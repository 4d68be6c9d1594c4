"""Schemas of the callbacks Sinch POSTs (reference §1): ice, ace, dice, pie, notify.

Loading gives a dict with snake_case names for the documented fields and every unknown field
kept as sent, so nothing the platform adds later is lost. ``callId`` is accepted for
``callid``. :func:`parse_callback` turns raw bytes into an event or a :class:`CallbackError`
that names the offending field. The common case is loaded by a loader compiled from these
schemas (:mod:`app.sinch.compiled`), into the same dict; the rest, and every refusal, by
marshmallow.
"""

from __future__ import annotations

import json
import re
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate
from marshmallow_oneofschema import OneOfSchema

from app.sinch.compiled import compile_loader
from app.validation import describe, flatten_messages

EVENTS = ("ice", "ace", "dice", "pie", "notify")
ANSWERED_EVENTS = ("ice", "ace", "pie")  # the ones that must be answered with SVAML
DOMAINS = ("pstn", "mxp")  # an ICE's domain (reference §1: the domain enum)
TO_TYPES = ("number", "did", "username", "sip")  # an ICE's to.type


def guess_to_type(endpoint: str) -> str:
    """The ``to.type`` a destination written on a command line most likely has."""
    if "@" in endpoint:
        return "sip"
    return "number" if endpoint.lstrip("+").replace(" ", "").isdigit() else "username"

Str = fields.String
Int = fields.Integer
_SECONDS = validate.Range(min=0, max=2**31 - 1, error="must be a number of seconds from {min} to {max}")


class _Part(Schema):
    class Meta:
        unknown = INCLUDE


class Money(_Part):
    currency_id = Str(data_key="currencyId")
    amount = fields.Float(allow_nan=False)


class Destination(_Part):
    type = Str()
    endpoint = Str()


class CallHeader(_Part):
    key = Str(required=True)
    value = Str(required=True)


class MenuResult(_Part):
    menu_id = Str(data_key="menuId")
    type = Str()
    value = Str()
    input_method = Str(data_key="inputMethod")


class Amd(_Part):
    status = Str()
    reason = Str()
    duration = Int(strict=True, validate=_SECONDS)


class _Event(_Part):
    event = Str(required=True)
    callid = Str(required=True, validate=validate.Length(min=1, max=256))
    timestamp = Str()
    version = Int(strict=True)
    custom = Str()
    application_key = Str(data_key="applicationKey")
    conference_id = Str(data_key="conferenceId")
    user = Str()


class Ice(_Event):
    call_resource_url = Str(data_key="callResourceUrl")
    user_rate = fields.Nested(Money, data_key="userRate")
    cli = Str()
    to = fields.Nested(Destination)
    domain = Str()
    origination_type = Str(data_key="originationType")
    duration = Int(strict=True, validate=_SECONDS)
    rdnis = Str()
    call_headers = fields.List(fields.Nested(CallHeader), data_key="callHeaders")


class Ace(_Event):
    amd = fields.Nested(Amd)


class Dice(_Event):
    reason = Str()
    result = Str()
    debit = fields.Nested(Money)
    user_rate = fields.Nested(Money, data_key="userRate")
    to = fields.Nested(Destination)
    duration = Int(strict=True, validate=_SECONDS)
    from_ = Str(data_key="from")
    call_headers = fields.List(fields.Nested(CallHeader), data_key="callHeaders")


class Pie(_Event):
    menu_result = fields.Nested(MenuResult, data_key="menuResult")


class Notify(_Event):
    type = Str(required=True)
    destination = Str()
    amd = fields.Nested(Amd)
    error_code = Int(strict=True, data_key="errorCode")
    error_msg = Str(data_key="errorMsg")


class CallbackSchema(OneOfSchema):
    """Dispatches on the ``event`` field to the schema of that callback."""

    type_field = "event"
    type_field_remove = False

    class Meta:
        unknown = INCLUDE  # passed down to the event schemas: keep what Sinch adds
    # Instances, not classes: oneofschema would otherwise build (deep-copy) a schema per load.
    type_schemas = {"ice": Ice(), "ace": Ace(), "dice": Dice(), "pie": Pie(), "notify": Notify()}

    def get_obj_type(self, obj):
        return obj["event"]


_callback_schema = CallbackSchema()
# The hot path's shortcut: the common case loaded without marshmallow, into the same dict
_compiled = compile_loader(_callback_schema)


class CallbackError(Exception):
    """A callback that cannot be handled: ``status`` is the HTTP code to answer with."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def decode_json(raw: bytes) -> Any:
    """The JSON in ``raw``, or a 400 :class:`CallbackError` saying why not."""
    if not raw.strip():
        raise CallbackError(400, "empty_body", "the request body is empty; expected a JSON object")
    try:
        text = raw.decode("utf-8")  # Sinch sends UTF-8; json.loads would guess UTF-16/32 from bytes
    except UnicodeDecodeError as error:
        raise CallbackError(400, "invalid_encoding", f"the request body is not valid UTF-8 (byte {error.start})")
    try:
        data = json.loads(text)
    except RecursionError:
        raise CallbackError(400, "too_deep", "the request body nests too deeply")
    except ValueError as error:
        detail = getattr(error, "msg", None) or str(error)
        where = f" at line {error.lineno} column {error.colno}" if hasattr(error, "lineno") else ""
        raise CallbackError(400, "invalid_json", f"the request body is not valid JSON: {detail}{where}")
    return _storable(data) if _UNSTORABLE_ESCAPE.search(text) else data


# JSON may spell a lone UTF-16 surrogate (``"\ud800"``) or a NUL (``"\u0000"``); no PostgreSQL text
# column, log line or reply can hold either, so each becomes U+FFFD (the raw body, journaled as
# bytes, keeps what was sent).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def parse_callback(raw: bytes) -> dict:
    """Decode and validate one callback body into an event dict."""
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise CallbackError(400, "not_an_object", "the request body must be a JSON object")
    event = data.get("event")
    if event is None:
        raise CallbackError(400, "invalid_callback", "event: missing", {"event": ["Missing data for required field."]})
    if event not in EVENTS:
        shown = event if isinstance(event, str) and len(event) <= 32 else "<value>"
        message = f"event: unknown event {shown!r}; expected one of {', '.join(EVENTS)}"
        raise CallbackError(400, "unknown_event", message, {"event": [message]})
    if "callid" not in data and "callId" in data:  # the other spelling Sinch's docs use
        data = dict(data)
        data["callid"] = data.pop("callId")
    loaded = _compiled(data)
    if loaded is not None:
        return loaded
    try:
        return _callback_schema.load(data)
    except ValidationError as error:
        flat = flatten_messages(error.messages)
        raise CallbackError(400, "invalid_callback", describe(flat), flat)
    except RecursionError:
        raise CallbackError(400, "too_deep", "the request body nests too deeply")
