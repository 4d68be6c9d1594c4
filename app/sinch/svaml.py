"""SVAML: builders that read like the document they produce, schemas, and platform rules.

A reply is built from plain functions::
    svaml(connect_pstn("+46855500000", cli="+46812345678"),
          say("This call is recorded.", locale="en-US"),
          start_recording(recording_options("s3://bucket/{callid}.mp3", "key:secret:eu-central-1")))

and leaves through :func:`render`, which validates it with :class:`SvamlSchema` (fields, types,
limits) and with the rules of the callback it answers (reference §2.2): which actions and
instructions each callback allows, no recording instructions with ``connectMxp``, one
``startRecording`` at most, cookies within 1024 bytes. A document Sinch would reject raises
:class:`SvamlError` instead of leaving the service.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Iterable

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from marshmallow_oneofschema import OneOfSchema

from app.sinch.compiled import compile_loader
from app.validation import describe, flatten_messages

# The limits Sinch states, each with its source (docs/sinch.md has them as a table). A field the
# docs give no bound is held to its type only: Sinch's own SDK models send values past any bound
# one might guess (the Java SDK's conferenceDtmfOptions.maxDigits 45, menu maxTimeoutMills 123456).
MAX_SAY_CHARS = 600          # say.text: "default maximum is 600 characters" (SVAML instructions page)
MAX_CALL_SECONDS = 14400     # connectPstn/connectSip maxDuration: "max 14400" (SVAML actions page)
MAX_PARK_SECONDS = 600       # park maxDuration: "max 600" (SVAML actions page, 2021)
MAX_CONFERENCE_ID = 64       # connectConf conferenceId: "at most 64 characters" (SVAML actions page)
MAX_COOKIE_BYTES = 1024      # setCookie: keys plus values "at most 1024 bytes" (SVAML instructions page)
MAX_HEADER_BYTES = 1024      # callHeaders: each key/value "at most 1024 bytes" (call headers page)
FORMATS = ("mp3", "wav")
SCHEMES = ("s3", "azure", "gs")
# connectPstn indications: the docs' country list; the Java SDK's enum adds "false".
INDICATIONS = (
    "at au bg br be ch cl cn cz de dk ee es fi fr gr hu il in it lt jp mx my nl no nz ph pl pt "
    "ru se sg th uk us tw ve za false"
).split()
MOH = ("ring", "music1", "music2", "music3")

# Reference §2.2. "manage" is the Manage Call PATCH body.
ACTIONS_ALLOWED = {
    "ice": {"hangup", "connectPstn", "connectMxp", "connectConf", "connectSip", "connectStream", "runMenu", "park"},
    "ace": {"hangup", "continue", "connectConf", "runMenu"},
    "pie": {"hangup", "continue", "connectPstn", "connectConf", "connectSip", "runMenu"},
    "manage": {"hangup", "continue", "park"},
}
_ALL_INSTRUCTIONS = {"playFiles", "say", "sendDtmf", "setCookie", "answer", "startRecording", "stopRecording"}
INSTRUCTIONS_ALLOWED = {
    "ice": _ALL_INSTRUCTIONS,
    "ace": _ALL_INSTRUCTIONS - {"sendDtmf", "answer"},
    "pie": _ALL_INSTRUCTIONS - {"answer"},
    "manage": _ALL_INSTRUCTIONS,
}
RECORDING_INSTRUCTIONS = {"startRecording", "stopRecording"}
RECORDING_FLAG_ACTIONS = {"continue", "connectPstn", "connectMxp", "connectConf", "connectSip"}


class SvamlError(ValueError):
    """A document the platform would reject; ``problems`` maps a path to what is wrong."""

    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__(describe(problems))


# --------------------------------------------------------------------------- schemas

Str = fields.String
Int = fields.Integer


class Bool(fields.Boolean):
    """JSON true/false only: Sinch does not coerce "yes" or 1."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value

# "0-9, #, w (500 ms pause)" (SVAML sendDtmf and connectPstn dtmf); * is a keypad key too.
_DTMF = validate.Regexp(r"^[0-9#*w]+$", error="may hold only 0-9, #, * and w")


def _utf8_max(limit: int):
    def check(value: str) -> None:
        if len(value.encode()) > limit:
            raise ValidationError(f"is longer than {limit} bytes")
    return check


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class DestinationSchema(_Strict):
    type = Str(required=True)
    endpoint = Str(required=True, validate=validate.Length(min=1))


class CallHeaderSchema(_Strict):
    key = Str(required=True, validate=[validate.Length(min=1), _utf8_max(MAX_HEADER_BYTES)])
    value = Str(required=True, validate=_utf8_max(MAX_HEADER_BYTES))


class TranscriptionOptionsSchema(_Strict):
    enabled = Bool(required=True)
    locale = Str()


_CREDENTIAL_PARTS = {"s3": 3, "gs": 2}


class RecordingOptionsSchema(_Strict):
    destinationUrl = Str(required=True)
    credentials = Str(required=True, validate=validate.Length(min=1))
    format = Str(validate=validate.OneOf(FORMATS))
    notificationEvents = Bool()
    transcriptionOptions = fields.Nested(TranscriptionOptionsSchema)

    @validates_schema
    def destination_and_credentials(self, data: dict, **kwargs) -> None:
        url = data.get("destinationUrl", "")
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in SCHEMES:
            raise ValidationError(
                f"must start with {', '.join(s + '://' for s in SCHEMES)}", "destinationUrl"
            )
        parts = rest.split("/")
        if not parts[0] or (scheme == "azure" and (len(parts) < 2 or not parts[1])):
            shape = "azure://account/container[/blob]" if scheme == "azure" else f"{scheme}://bucket[/key]"
            raise ValidationError(f"must look like {shape}", "destinationUrl")
        # The message never repeats the credentials: they are secrets.
        credentials = data.get("credentials", "")
        if scheme in _CREDENTIAL_PARTS:
            pieces = credentials.split(":")
            if len(pieces) != _CREDENTIAL_PARTS[scheme] or not all(pieces):
                shape = "key:secret:region" if scheme == "s3" else "key:secret (an HMAC key)"
                raise ValidationError(f"must be {shape} for {scheme}://", "credentials")
        else:
            try:
                base64.b64decode(credentials, validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError("must be the storage account's base64 access key", "credentials")


# Instructions ---------------------------------------------------------------


class PlayFiles(_Strict):
    name = Str(required=True)
    ids = fields.List(Str(validate=validate.Length(min=1)), required=True, validate=validate.Length(min=1))
    locale = Str()


class Say(_Strict):
    name = Str(required=True)
    text = Str(required=True, validate=validate.Length(min=1, max=MAX_SAY_CHARS))
    locale = Str()


class SendDtmf(_Strict):
    name = Str(required=True)
    value = Str(required=True, validate=_DTMF)


class SetCookie(_Strict):
    name = Str(required=True)
    key = Str(required=True, validate=validate.Length(min=1))
    value = Str(required=True)


class Bare(_Strict):
    name = Str(required=True)


class StartRecording(_Strict):
    name = Str(required=True)
    options = fields.Nested(RecordingOptionsSchema, required=True)


class _OneOf(OneOfSchema):
    type_field = "name"
    type_field_remove = False

    def get_obj_type(self, obj):
        return obj["name"]


class InstructionSchema(_OneOf):
    # Instances, not classes: oneofschema would otherwise build (deep-copy) a schema per load.
    type_schemas = {
        "playFiles": PlayFiles(), "say": Say(), "sendDtmf": SendDtmf(), "setCookie": SetCookie(),
        "answer": Bare(), "startRecording": StartRecording(), "stopRecording": Bare(),
    }


# Actions --------------------------------------------------------------------


class _Recordable(_Strict):
    name = Str(required=True)
    record = Bool()
    recordingOptions = fields.Nested(RecordingOptionsSchema)

    @validates_schema
    def record_needs_options(self, data: dict, **kwargs) -> None:
        if data.get("record") and "recordingOptions" not in data:
            raise ValidationError("is required when record is true", "recordingOptions")


class AmdSchema(_Strict):
    enabled = Bool(required=True)
    # "async" is a Python keyword, hence the data_key.
    asynchronous = Bool(data_key="async")


class ConnectPstn(_Recordable):
    number = Str(validate=validate.Length(min=1))
    locale = Str()
    maxDuration = Int(strict=True, validate=validate.Range(max=MAX_CALL_SECONDS))
    dialTimeout = Int(strict=True)
    cli = Str()
    suppressCallbacks = Bool()
    dtmf = Str(validate=_DTMF)
    indications = Str(validate=validate.OneOf(INDICATIONS))
    amd = fields.Nested(AmdSchema)


class ConnectMxp(_Recordable):
    destination = fields.Nested(DestinationSchema)
    callHeaders = fields.List(fields.Nested(CallHeaderSchema))


class ConferenceDtmfOptions(_Strict):
    mode = Str(validate=validate.OneOf(("ignore", "forward", "detect")))
    maxDigits = Int(strict=True)
    timeoutMills = Int(strict=True)


class ConnectConf(_Recordable):
    conferenceId = Str(required=True, validate=validate.Length(min=1, max=MAX_CONFERENCE_ID))
    conferenceDtmfOptions = fields.Nested(ConferenceDtmfOptions)
    moh = Str(validate=validate.OneOf(MOH))


class ConnectSip(_Recordable):
    destination = fields.Nested(DestinationSchema, required=True)
    maxDuration = Int(strict=True, validate=validate.Range(max=MAX_CALL_SECONDS))
    cli = Str()
    transport = Str(validate=validate.OneOf(("UDP", "TCP", "TLS", "udp", "tcp", "tls")))
    suppressCallbacks = Bool()
    callHeaders = fields.List(fields.Nested(CallHeaderSchema))
    moh = Str(validate=validate.OneOf(MOH))


class StreamingOptions(_Strict):
    version = Int(strict=True)
    sampleRate = Int(strict=True)


class ConnectStream(_Strict):
    name = Str(required=True)
    destination = fields.Nested(DestinationSchema, required=True)
    streamingOptions = fields.Nested(StreamingOptions)
    maxDuration = Int(strict=True)
    callHeaders = fields.List(fields.Nested(CallHeaderSchema))


class Dtmf(fields.String):
    """Keypad digits; Sinch's own examples write a menu option's ``dtmf`` as a number (``1``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class MenuOptionSchema(_Strict):
    dtmf = Dtmf(required=True, validate=_DTMF)
    action = Str(required=True, validate=validate.Regexp(
        r"^(return(\([^()]*\))?|menu\([^()]+\))$", error="must be return(<value>) or menu(<menu id>)"
    ))


class MenuSchema(_Strict):
    id = Str(required=True, validate=validate.Length(min=1))
    mainPrompt = Str()
    repeatPrompt = Str()
    repeats = Int(strict=True)
    maxDigits = Int(strict=True)
    timeoutMills = Int(strict=True)
    maxTimeoutMills = Int(strict=True)
    options = fields.List(fields.Nested(MenuOptionSchema))


_MENU_REF = re.compile(r"^menu\(([^()]+)\)$")


class RunMenu(_Strict):
    name = Str(required=True)
    barge = Bool()
    locale = Str()
    mainMenu = Str()
    enableVoice = Bool()
    menus = fields.List(fields.Nested(MenuSchema), required=True, validate=validate.Length(min=1))

    @validates_schema
    def menus_hang_together(self, data: dict, **kwargs) -> None:
        ids = [menu["id"] for menu in data.get("menus", [])]
        if "main" not in ids:
            raise ValidationError("one menu must have id 'main'", "menus")
        if len(set(ids)) != len(ids):
            raise ValidationError("menu ids must be unique", "menus")
        if data.get("mainMenu") is not None and data["mainMenu"] not in ids:
            raise ValidationError("names no menu in menus", "mainMenu")
        if data.get("enableVoice") and not data.get("locale"):
            raise ValidationError("is required when enableVoice is true", "locale")
        for menu in data.get("menus", []):
            for option in menu.get("options", []):
                target = _MENU_REF.match(option["action"])
                if target and target.group(1) not in ids:
                    raise ValidationError(f"option {option['dtmf']} of menu {menu['id']} goes to unknown menu {target.group(1)}", "menus")


class Park(_Strict):
    name = Str(required=True)
    locale = Str()
    introPrompt = Str()
    holdPrompt = Str()
    maxDuration = Int(strict=True, validate=validate.Range(max=MAX_PARK_SECONDS))


class Continue(_Recordable):
    pass


class ActionSchema(_OneOf):
    type_schemas = {
        "hangup": Bare(), "continue": Continue(), "connectPstn": ConnectPstn(), "connectMxp": ConnectMxp(),
        "connectConf": ConnectConf(), "connectSip": ConnectSip(), "connectStream": ConnectStream(),
        "runMenu": RunMenu(), "park": Park(),
    }


class SvamlSchema(_Strict):
    instructions = fields.List(fields.Nested(InstructionSchema))
    action = fields.Nested(ActionSchema, required=True)


_svaml_schema = SvamlSchema()
# The hot path's shortcut: a reply in the common case checked without marshmallow (same verdict)
_compiled = compile_loader(_svaml_schema, same_as={Dtmf: fields.String, Bool: fields.Boolean})


# --------------------------------------------------------------------------- platform rules


def platform_problems(doc: dict, callback: str) -> dict[str, list[str]]:
    """What Sinch would reject in a schema-valid ``doc`` answering ``callback`` (ice|ace|pie|manage)."""
    problems: dict[str, list[str]] = {}
    action = doc["action"]["name"]
    if action not in ACTIONS_ALLOWED[callback]:
        allowed = ", ".join(sorted(ACTIONS_ALLOWED[callback]))
        problems["action.name"] = [f"{action} is not allowed in a {callback} reply (allowed: {allowed})"]
    if doc["action"].get("record") and action not in RECORDING_FLAG_ACTIONS:
        problems["action.record"] = [f"{action} cannot carry the record flag"]
    instructions = doc.get("instructions", [])
    cookie_bytes, starts = 0, 0
    for index, instruction in enumerate(instructions):
        name = instruction["name"]
        if name not in INSTRUCTIONS_ALLOWED[callback]:
            problems[f"instructions[{index}].name"] = [f"{name} is not allowed in a {callback} reply"]
        if name in RECORDING_INSTRUCTIONS and action == "connectMxp":
            problems[f"instructions[{index}].name"] = [
                f"{name} does not work with connectMxp; use the record flag on the action"
            ]
        if name == "startRecording":
            starts += 1
        if name == "setCookie":
            cookie_bytes += len(instruction["key"].encode()) + len(instruction["value"].encode())
    if starts > 1:
        problems["instructions"] = ["startRecording may appear once per reply"]
    if starts and doc["action"].get("record"):
        problems["action.record"] = ["a reply records either with startRecording or with the record flag, not both"]
    if cookie_bytes > MAX_COOKIE_BYTES:
        problems.setdefault("instructions", []).append(
            f"setCookie keys and values total {cookie_bytes} bytes; at most {MAX_COOKIE_BYTES} are allowed"
        )
    return problems


def render(doc: dict, callback: str) -> dict:
    """Validate ``doc`` as the reply to ``callback`` and return it ready to send as JSON.

    The schemas refuse unknown keys and coerce nothing, so a document that loads is exactly
    the document to send: it is returned as given, without a second (dump) pass.
    """
    if not isinstance(doc, dict):
        raise SvamlError({"_body": ["SVAML must be a JSON object"]})
    loaded = _compiled(doc)
    if loaded is None:
        try:
            loaded = _svaml_schema.load(doc)
        except ValidationError as error:
            raise SvamlError(flatten_messages(error.messages)) from None
    problems = platform_problems(loaded, callback)
    if problems:
        raise SvamlError(problems)
    return doc


def passable(doc: Any, callback: str) -> dict:
    """Someone else's reply (the sidecar's upstream) checked as Sinch checks it, and returned as
    it was sent. What :func:`render` refuses is refused here too — a missing or misspelt action,
    what the callback does not allow, a value outside a limit Sinch states — but keys this module
    does not know (the Java SDK's ``callheaders``, fields newer than this check) are the
    customer's business: they are passed on, not a reason to replace the reply."""
    render(_declared_only(doc, _svaml_schema), callback)
    return doc


def _declared_only(value: Any, schema: Schema | None) -> Any:
    """``value`` with only the keys ``schema`` declares, all the way down (pure)."""
    if isinstance(schema, OneOfSchema):
        inner = schema.type_schemas.get(value.get("name")) if isinstance(value, dict) else None
        return _declared_only(value, inner) if inner is not None else value
    if schema is None or not isinstance(value, dict):
        return value
    kept = {}
    for name, field in schema.fields.items():
        key = field.data_key or name
        if key in value:
            kept[key] = _declared_value(value[key], field)
    return kept


def _declared_value(value: Any, field: fields.Field) -> Any:
    if isinstance(field, fields.Nested):
        return _declared_only(value, field.schema)
    if isinstance(field, fields.List) and isinstance(value, list):
        return [_declared_value(item, field.inner) for item in value]
    return value


# --------------------------------------------------------------------------- builders


def _element(name: str, **fields_: Any) -> dict:
    return {"name": name, **{key: value for key, value in fields_.items() if value is not None}}


def svaml(action: dict, *instructions: dict) -> dict:
    """A whole document: the action, preceded by instructions executed in order."""
    doc: dict = {}
    if instructions:
        doc["instructions"] = list(instructions)
    doc["action"] = action
    return doc


# Instructions


def play_files(*ids: str, locale: str | None = None) -> dict:
    return _element("playFiles", ids=list(ids), locale=locale)


def say(text: str, *, locale: str | None = None) -> dict:
    return _element("say", text=text, locale=locale)


def send_dtmf(value: str) -> dict:
    return _element("sendDtmf", value=value)


def set_cookie(key: str, value: str) -> dict:
    return _element("setCookie", key=key, value=value)


def answer() -> dict:
    return _element("answer")


def start_recording(options: dict) -> dict:
    return _element("startRecording", options=options)


def stop_recording() -> dict:
    return _element("stopRecording")


def recording_options(
    destination_url: str,
    credentials: str,
    *,
    format: str | None = None,
    notification_events: bool | None = None,
    transcription_locale: str | None = None,
) -> dict:
    options = {"destinationUrl": destination_url, "credentials": credentials}
    if format is not None:
        options["format"] = format
    if notification_events is not None:
        options["notificationEvents"] = notification_events
    if transcription_locale is not None:
        options["transcriptionOptions"] = {"enabled": True, "locale": transcription_locale}
    return options


# Actions


def hangup() -> dict:
    return _element("hangup")


def continue_(*, recording: dict | None = None) -> dict:
    return _element("continue", **_record_flag(recording))


def _record_flag(recording: dict | None) -> dict:
    return {"record": True, "recordingOptions": recording} if recording else {}


def connect_pstn(
    number: str | None = None,
    *,
    cli: str | None = None,
    max_duration: int | None = None,
    dial_timeout: int | None = None,
    locale: str | None = None,
    suppress_callbacks: bool | None = None,
    dtmf: str | None = None,
    indications: str | None = None,
    amd: dict | None = None,
    recording: dict | None = None,
) -> dict:
    return _element(
        "connectPstn", number=number, locale=locale, maxDuration=max_duration,
        dialTimeout=dial_timeout, cli=cli, suppressCallbacks=suppress_callbacks, dtmf=dtmf,
        indications=indications, amd=amd, **_record_flag(recording),
    )


def connect_mxp(
    username: str | None = None, *, call_headers: Iterable[dict] | None = None, recording: dict | None = None
) -> dict:
    destination = {"type": "username", "endpoint": username} if username else None
    headers = list(call_headers) if call_headers is not None else None
    return _element("connectMxp", destination=destination, callHeaders=headers, **_record_flag(recording))


def connect_conf(
    conference_id: str,
    *,
    moh: str | None = None,
    dtmf_options: dict | None = None,
    recording: dict | None = None,
) -> dict:
    return _element(
        "connectConf", conferenceId=conference_id, conferenceDtmfOptions=dtmf_options, moh=moh,
        **_record_flag(recording),
    )


def connect_sip(
    endpoint: str,
    *,
    cli: str | None = None,
    max_duration: int | None = None,
    transport: str | None = None,
    call_headers: Iterable[dict] | None = None,
    suppress_callbacks: bool | None = None,
    moh: str | None = None,
    recording: dict | None = None,
) -> dict:
    headers = list(call_headers) if call_headers is not None else None
    return _element(
        "connectSip", destination={"type": "sip", "endpoint": endpoint}, maxDuration=max_duration,
        cli=cli, transport=transport, suppressCallbacks=suppress_callbacks, callHeaders=headers,
        moh=moh, **_record_flag(recording),
    )


class Unroutable(ValueError):
    """A call with nowhere to connect: what was dialled is the application's own Sinch number."""


NO_ROUTE_TEXT = "We are sorry, this number cannot take your call right now. Please try again later."


def no_route() -> dict:
    """The answer to a call with nowhere to go (:class:`Unroutable`): said so, then hung up."""
    return svaml(hangup(), say(NO_ROUTE_TEXT, locale="en-US"))


def connect_dialled(to_type: str | None, endpoint: str | None, domain: str | None = None,
                    *, recording: dict | None = None) -> dict:
    """Connect what the caller dialled, by the destination's type (ICE ``to``).

    Numbers get ``connectPstn``, app users ``connectMxp``, SIP addresses ``connectSip``; with
    nothing usable, ``connectPstn`` without a number lets the platform dial what the caller
    dialled. A call to the application's own number (``to.type`` ``did``: an inbound PSTN call)
    has no dialled destination beyond that number — connecting it (with or without ``number``)
    would call the application again — so it raises :class:`Unroutable`.
    """
    kind = (to_type or "").lower()
    if kind == "did":
        number = f" {endpoint}" if endpoint else ""
        raise Unroutable(f"connect: dialled on a call to the application's own number{number} (to.type did) "
                         "would call that number again; name where such calls go")
    if kind == "username" or (not kind and (domain or "").lower() == "mxp"):
        return connect_mxp(endpoint or None, recording=recording)
    if kind == "sip" and endpoint:
        return connect_sip(endpoint, recording=recording)
    return connect_pstn(endpoint if kind == "number" and endpoint else None, recording=recording)


def connect_stream(url: str, *, sample_rate: int | None = None, max_duration: int | None = None) -> dict:
    options = {"version": 1, "sampleRate": sample_rate} if sample_rate else None
    return _element(
        "connectStream", destination={"type": "websocket", "endpoint": url},
        streamingOptions=options, maxDuration=max_duration,
    )


def menu_option(dtmf: str, action: str) -> dict:
    return {"dtmf": dtmf, "action": action}


def menu(
    id: str,
    main_prompt: str,
    *options: dict,
    repeat_prompt: str | None = None,
    repeats: int | None = None,
    max_digits: int | None = None,
    timeout_mills: int | None = None,
) -> dict:
    fields_ = {"id": id, "mainPrompt": main_prompt, "repeatPrompt": repeat_prompt, "repeats": repeats,
               "maxDigits": max_digits, "timeoutMills": timeout_mills,
               "options": list(options) if options else None}
    return {key: value for key, value in fields_.items() if value is not None}


def run_menu(*menus: dict, locale: str | None = None, barge: bool | None = None, main_menu: str | None = None) -> dict:
    return _element("runMenu", barge=barge, locale=locale, mainMenu=main_menu, menus=list(menus))


def park(*, intro_prompt: str | None = None, hold_prompt: str | None = None,
         max_duration: int | None = None, locale: str | None = None) -> dict:
    return _element("park", locale=locale, introPrompt=intro_prompt, holdPrompt=hold_prompt, maxDuration=max_duration)


def tts(text: str) -> str:
    """A prompt string that speaks ``text`` (reference §2.5)."""
    return f"#tts[{text}]"
