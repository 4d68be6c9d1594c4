"""The simulator's own picture of SVAML: a JSON Schema (draft 2020-12) written from Sinch's docs and
SDK models — not from ``app/sinch/svaml.py`` — and judged by jsonschema, so a gap between the
service's check and the platform can show. Sources: the SVAML reference (actions and instructions
per callback, §2.2–2.4 of ``sinch-voice-v1.md``), the recording options page (§3.2–3.3) and the
SDK models (Java, Node). ``verdict(doc, callback)`` is the list of problems; empty: Sinch takes it.

Not expressible in JSON Schema, and so not judged here: that ``setCookie`` keys and values total
at most 1 024 bytes, that menu ids are unique and ``mainMenu``/``menu(x)`` name a menu.
"""

from __future__ import annotations

from functools import lru_cache

from jsonschema import Draft202012Validator

CALLBACKS = ("ice", "ace", "pie", "manage")
# The SVAML reference's table (§2.2); Manage Call from the SDK typing.
ACTIONS = {
    "ice": ["hangup", "connectPstn", "connectMxp", "connectConf", "connectSip", "connectStream", "runMenu", "park"],
    "ace": ["hangup", "continue", "connectConf", "runMenu"],
    "pie": ["hangup", "continue", "connectPstn", "connectConf", "connectSip", "runMenu"],
    "manage": ["hangup", "continue", "park"],
}
_EVERY = ["playFiles", "say", "sendDtmf", "setCookie", "answer", "startRecording", "stopRecording"]
INSTRUCTIONS = {
    "ice": _EVERY,
    "ace": [name for name in _EVERY if name not in ("sendDtmf", "answer")],
    "pie": [name for name in _EVERY if name != "answer"],
    "manage": _EVERY,
}

STRING = {"type": "string"}
NONEMPTY = {"type": "string", "minLength": 1}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
DTMF = {"type": "string", "pattern": r"^[0-9#*w]+$"}  # 0-9, #, w (pause); * is a keypad key too
MOH = {"enum": ["ring", "music1", "music2", "music3"]}
INDICATIONS = {"enum": ("at au bg br be ch cl cn cz de dk ee es fi fr gr hu il in it lt jp mx my nl no nz ph pl pt "
                        "ru se sg th uk us tw ve za false").split()}


def _object(properties: dict, *required: str, **more) -> dict:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False, **more}


DESTINATION = _object({"type": STRING, "endpoint": NONEMPTY}, "type", "endpoint")
CALL_HEADER = _object({"key": {"type": "string", "minLength": 1, "maxLength": 1024},
                       "value": {"type": "string", "maxLength": 1024}}, "key", "value")
CALL_HEADERS = {"type": "array", "items": CALL_HEADER}

# Recording options (§3.2) with the destination schemes and credential forms of §3.3.
RECORDING_OPTIONS = _object({
    "destinationUrl": STRING, "credentials": NONEMPTY, "format": {"enum": ["mp3", "wav"]},
    "notificationEvents": BOOLEAN,
    "transcriptionOptions": _object({"enabled": BOOLEAN, "locale": STRING}, "enabled"),
}, "destinationUrl", "credentials", allOf=[
    {"properties": {"destinationUrl": {"pattern": r"^(s3://[^/]+|gs://[^/]+|azure://[^/]+/[^/]+)(/.*)?$"}}},
    {"if": {"properties": {"destinationUrl": {"pattern": "^s3://"}}},
     "then": {"properties": {"credentials": {"pattern": r"^[^:]+:[^:]+:[^:]+$"}}}},
    {"if": {"properties": {"destinationUrl": {"pattern": "^gs://"}}},
     "then": {"properties": {"credentials": {"pattern": r"^[^:]+:[^:]+$"}}}},
    {"if": {"properties": {"destinationUrl": {"pattern": "^azure://"}}},
     "then": {"properties": {"credentials": {"pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"}}}},
])
RECORD_FLAG = {"record": BOOLEAN, "recordingOptions": RECORDING_OPTIONS}
NEEDS_OPTIONS = {"if": {"properties": {"record": {"const": True}}, "required": ["record"]},
                 "then": {"required": ["recordingOptions"]}}


def _action(name: str, properties: dict, *required: str, recordable: bool = False) -> dict:
    fields = {"name": {"const": name}, **properties, **(RECORD_FLAG if recordable else {})}
    schema = _object(fields, "name", *required)
    if recordable:
        schema["allOf"] = [NEEDS_OPTIONS]
    return schema


MENU = _object({
    "id": NONEMPTY, "mainPrompt": STRING, "repeatPrompt": STRING, "repeats": INTEGER, "maxDigits": INTEGER,
    "timeoutMills": INTEGER, "maxTimeoutMills": INTEGER,
    "options": {"type": "array", "items": _object({
        "dtmf": {"anyOf": [DTMF, {"type": "integer", "minimum": 0}]},  # Sinch's examples write a number
        "action": {"type": "string", "pattern": r"^(return(\([^()]*\))?|menu\([^()]+\))$"},
    }, "dtmf", "action")},
}, "id")

ACTION_SCHEMAS = {
    "hangup": _action("hangup", {}),
    "continue": _action("continue", {}, recordable=True),
    "connectPstn": _action("connectPstn", {
        "number": NONEMPTY, "locale": STRING, "maxDuration": {"type": "integer", "maximum": 14400},
        "dialTimeout": INTEGER, "cli": STRING, "suppressCallbacks": BOOLEAN, "dtmf": DTMF,
        "indications": INDICATIONS, "amd": _object({"enabled": BOOLEAN, "async": BOOLEAN}, "enabled"),
    }, recordable=True),
    "connectMxp": _action("connectMxp", {"destination": DESTINATION, "callHeaders": CALL_HEADERS}, recordable=True),
    "connectConf": _action("connectConf", {
        "conferenceId": {"type": "string", "minLength": 1, "maxLength": 64},
        "conferenceDtmfOptions": _object({"mode": {"enum": ["ignore", "forward", "detect"]},
                                          "maxDigits": INTEGER, "timeoutMills": INTEGER}),
        "moh": MOH,
    }, "conferenceId", recordable=True),
    "connectSip": _action("connectSip", {
        "destination": DESTINATION, "maxDuration": {"type": "integer", "maximum": 14400}, "cli": STRING,
        "transport": {"enum": ["UDP", "TCP", "TLS", "udp", "tcp", "tls"]}, "suppressCallbacks": BOOLEAN,
        "callHeaders": CALL_HEADERS, "moh": MOH,
    }, "destination", recordable=True),
    "connectStream": _action("connectStream", {
        "destination": DESTINATION, "streamingOptions": _object({"version": INTEGER, "sampleRate": INTEGER}),
        "maxDuration": INTEGER, "callHeaders": CALL_HEADERS,
    }, "destination"),
    "runMenu": _action("runMenu", {
        "barge": BOOLEAN, "locale": STRING, "mainMenu": STRING, "enableVoice": BOOLEAN,
        "menus": {"type": "array", "minItems": 1, "items": MENU,
                  "contains": {"properties": {"id": {"const": "main"}}, "required": ["id"]}},
    }, "menus"),
    "park": _action("park", {"locale": STRING, "introPrompt": STRING, "holdPrompt": STRING,
                             "maxDuration": {"type": "integer", "maximum": 600}}),
}
ACTION_SCHEMAS["runMenu"]["allOf"] = [{"if": {"properties": {"enableVoice": {"const": True}},
                                              "required": ["enableVoice"]},
                                       "then": {"required": ["locale"],
                                                "properties": {"locale": {"minLength": 1}}}}]

INSTRUCTION_SCHEMAS = {
    "playFiles": _object({"name": {"const": "playFiles"}, "ids": {"type": "array", "minItems": 1, "items": NONEMPTY},
                          "locale": STRING}, "name", "ids"),
    "say": _object({"name": {"const": "say"}, "text": {"type": "string", "minLength": 1, "maxLength": 600},
                    "locale": STRING}, "name", "text"),
    "sendDtmf": _object({"name": {"const": "sendDtmf"}, "value": DTMF}, "name", "value"),
    "setCookie": _object({"name": {"const": "setCookie"}, "key": NONEMPTY, "value": STRING}, "name", "key", "value"),
    "answer": _object({"name": {"const": "answer"}}, "name"),
    "startRecording": _object({"name": {"const": "startRecording"}, "options": RECORDING_OPTIONS},
                              "name", "options"),
    "stopRecording": _object({"name": {"const": "stopRecording"}}, "name"),
}


def _one_of_named(schemas: dict, allowed: list[str]) -> dict:
    """The schema for the one element named ``name``, among those this callback allows."""
    return {"type": "object", "required": ["name"],
            "properties": {"name": {"enum": allowed}},
            "allOf": [{"if": {"properties": {"name": {"const": name}}}, "then": schemas[name]} for name in allowed]}


def document(callback: str) -> dict:
    """The whole reply to ``callback``, with the platform's rules across its parts."""
    recording_instruction = {"properties": {"name": {"enum": ["startRecording", "stopRecording"]}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object", "additionalProperties": False, "required": ["action"],
        "properties": {
            "instructions": {"type": "array", "items": _one_of_named(INSTRUCTION_SCHEMAS, INSTRUCTIONS[callback])},
            "action": _one_of_named(ACTION_SCHEMAS, ACTIONS[callback]),
        },
        "allOf": [
            # startRecording at most once (recording options page: one call recording at a time)
            {"properties": {"instructions": {"contains": {"properties": {"name": {"const": "startRecording"}}},
                                             "minContains": 0, "maxContains": 1}}},
            # no recording instructions with connectMxp (§2.3, §3.1)
            {"if": {"properties": {"action": {"properties": {"name": {"const": "connectMxp"}}}}},
             "then": {"properties": {"instructions": {"not": {"contains": recording_instruction}}}}},
            # the record flag or startRecording, not both
            {"if": {"properties": {"action": {"properties": {"record": {"const": True}}, "required": ["record"]}}},
             "then": {"properties": {"instructions": {"not": {"contains": {
                 "properties": {"name": {"const": "startRecording"}}}}}}}},
        ],
    }


@lru_cache(maxsize=None)
def _validator(callback: str) -> Draft202012Validator:
    schema = document(callback)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def verdict(doc, callback: str) -> list[str]:
    """What Sinch would refuse in ``doc`` as the reply to ``callback``, by this schema; [] when nothing."""
    return sorted(f"{'.'.join(map(str, error.absolute_path)) or '(document)'}: {error.message}"
                  for error in _validator(callback).iter_errors(doc))
