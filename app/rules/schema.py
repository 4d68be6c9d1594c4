"""Reading a ruleset file: YAML → ``${VAR}`` interpolation → marshmallow validation → :class:`Ruleset`.

Every problem is reported with its path in the file (``rules[3].when.to[1]``), what is wrong and
how to fix it, all at once. Credentials must come from the environment (``${REC_S3_KEY}``);
a literal secret — including a ``${VAR:-default}`` default — is refused unless the file says
``allow_literal_credentials: true`` (demo set-ups) or ``RULES_ALLOW_LITERAL_CREDENTIALS`` is on.
"""

from __future__ import annotations

import base64
import difflib
import gc
import hashlib
import re
from contextlib import contextmanager
from datetime import time
from pathlib import Path
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema
from marshmallow.utils import is_collection

from app.events.types import TYPES as EVENT_TYPES, matching
from app.placeholders import Template, TemplateError
from app.rules import yaml_reader
from app.rules.compiled import rule_loader
from app.rules.engine import RuleIndex
from app.rules.matching import PatternSet, Window, parse_days
from app.rules.model import (
    Announcement,
    Conditions,
    Connect,
    Consent,
    Destination,
    EvidenceCopies,
    RecordPlan,
    Rule,
    Ruleset,
    Sensitive,
    Upstream,
    WebhookEndpoint,
)
from app.sinch.svaml import ACTIONS_ALLOWED, FORMATS, MAX_CALL_SECONDS, MAX_CONFERENCE_ID, MAX_SAY_CHARS, MOH
from app.storage import READ_KEYS
from app.storage.keys import KeyTemplate
from app.validation import flatten_messages

# marshmallow reports a Dict's entries as NAME.value / NAME.key; the file only has NAME.
_DICT_VALUE = re.compile(r"^((?:destinations|webhooks|rules\[\d+\]\.when\.header)\.[^.]+)\.(?:value|key)")
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")
READ_SECRETS = {"secret_key", "connection_string", "account_key", "sas_token", "hmac_secret", "credentials_json"}
EVENTS = ("ice", "ace", "pie")
CONNECT_ACTIONS = {  # connect kind -> the SVAML action it becomes
    "pstn": "connectPstn", "sip": "connectSip", "user": "connectMxp", "conference": "connectConf",
    "continue": "continue", "hangup": "hangup",
}


class RulesError(ValueError):
    """A ruleset that cannot be used; ``problems`` maps a path in the file to what is wrong."""

    def __init__(self, problems: Mapping[str, list[str]], source: str = "<memory>"):
        self.problems, self.source = dict(problems), source
        lines = [f"  {path}: {text}" for path, texts in sorted(self.problems.items()) for text in texts]
        super().__init__(f"{source}: {len(lines)} problem(s)\n" + "\n".join(lines))


class RulesFileUnreadable(RulesError):
    """The file itself cannot be read (missing, a folder, no permission)."""

    def __init__(self, path: Path, reason: str):
        super().__init__({"_file": [f"cannot be read ({reason}); check RULES_FILE"]}, str(path))
        self.args = (f"{path} cannot be read ({reason}): fix the path (a relative one starts at the project "
                     "root), or unset RULES_FILE to serve the demo ruleset",)


# --------------------------------------------------------------------------- interpolation


def interpolate(tree: Any, environ: Mapping[str, str], allow_literal: bool) -> tuple[Any, dict[str, list[str]]]:
    """Replace ``${VAR}``/``${VAR:-default}`` in every string; check where secrets come from."""
    problems: dict[str, list[str]] = {}

    def fill(text: str, path: str, secret: bool) -> str:
        return fill_references(text, path, secret, environ, problems)

    def walk(node: Any, path: str, parent_key: str | None, siblings: Mapping | None) -> Any:
        if isinstance(node, dict):
            return {key: walk(value, f"{path}.{key}" if path else str(key), str(key), node)
                    for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, f"{path}[{i}]", None, None) for i, value in enumerate(node)]
        if not isinstance(node, str):
            return node
        if not allow_literal:
            problem = _literal_secret(node, path, parent_key, siblings)
            if problem:
                problems.setdefault(path, []).append(problem)
        return fill(node, path, _is_secret(path, parent_key))

    def references(node: Any, path: str) -> Any:
        """A part that holds no secrets (the rules): only strings with ``${`` change; paths are made
        on the way to them, and a container is copied only when something in it changed."""
        if isinstance(node, dict):
            changed = {key: new for key, value in node.items() if _may_refer(value)
                       for new in (references(value, f"{path}.{key}"),) if new is not value}
            return {**node, **changed} if changed else node
        if isinstance(node, list):
            changed = {i: new for i, value in enumerate(node) if _may_refer(value)
                       for new in (references(value, f"{path}[{i}]"),) if new is not value}
            return [changed.get(i, value) for i, value in enumerate(node)] if changed else node
        return fill(node, path, False) if isinstance(node, str) else node

    if isinstance(tree, dict) and "rules" in tree:
        return {key: references(value, "rules") if key == "rules" else walk(value, str(key), str(key), tree)
                for key, value in tree.items()}, problems
    return walk(tree, "", None, None), problems


def fill_references(text: str, path: str, secret: bool, environ: Mapping[str, str],
                    problems: dict[str, list[str]]) -> str:
    """``text`` with its ``${VAR}``/``${VAR:-default}`` filled; an unset variable is added to
    ``problems`` under ``path`` (a secret takes no default) and its reference kept."""
    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(3)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        advice = (f"set it where the service runs (export {name}=…, or heroku config:set {name}=…); "
                  "a secret takes no default" if secret else f"set it, or write ${{{name}:-default}}")
        problems.setdefault(path, []).append(f"environment variable {name} is not set: {advice}.")
        return match.group(0)  # already reported: keep the reference so nothing else complains
    return REFERENCE.sub(replace, text)


def _may_refer(value: Any) -> bool:
    return isinstance(value, (dict, list)) or (isinstance(value, str) and "${" in value)


def _only_reference(text: str) -> bool:
    match = REFERENCE.fullmatch(text.strip())
    return bool(match) and match.group(2) is None


def _is_secret(path: str, key: str | None) -> bool:
    """A destination's ``sinch_credentials``, one of the secret keys of its ``read:`` or ``write:``,
    or a webhook's ``secret``."""
    if path.startswith("webhooks.") and path.count(".") == 2:
        return key == "secret"
    if path.startswith("destinations.") and path.count(".") == 3 and (".read." in path or ".write." in path):
        return key in READ_SECRETS
    return key == "sinch_credentials" and path.startswith("destinations.") and path.count(".") == 2


def _literal_secret(raw: str, path: str, key: str | None, siblings: Mapping | None) -> str | None:
    advice = ("write it as an environment reference like ${REC_WRITE_SECRET}; literal credentials "
              "(and ${VAR:-default} defaults) need allow_literal_credentials: true, for demos only")
    if not _is_secret(path, key):
        return None
    if key != "sinch_credentials":
        return None if _only_reference(raw) else f"is a secret: {advice}"
    scheme = str((siblings or {}).get("url", "")).partition("://")[0]
    # Each reference becomes one marker, so the ":" inside ${VAR:-default} does not split.
    parts = REFERENCE.sub(lambda m: "\x00" if m.group(2) is None else "\x01", raw).split(":")
    secret_parts = parts[:2] if scheme == "s3" else parts  # an S3 region may be written as it is
    if any(part != "\x00" for part in secret_parts):
        return f"holds a literal secret: {advice}"
    return None


# --------------------------------------------------------------------------- schemas


class _Strict(Schema):
    class Meta:
        unknown = RAISE

    def handle_error(self, error: ValidationError, data, *, many: bool, **kwargs) -> None:
        """Name the field a misspelt key was probably meant to be (``too`` → ``to``)."""
        if many or not isinstance(error.messages, dict):
            return
        known = [field.data_key or name for name, field in self.load_fields.items()]
        for key, problems in error.messages.items():
            if problems == ["Unknown field."]:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                if close:
                    problems[0] = f"Unknown field; did you mean '{close[0]}'?"


class StringOrList(fields.Field):
    """A pattern written alone or as a list: ``"+4670*"`` or ``["+4670*", "!+46701*"]``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not value or not all(isinstance(i, str) for i in value):
            raise ValidationError("must be a pattern or a list of patterns (strings)")
        return value


class Patterns(StringOrList):
    def _deserialize(self, value, attr, data, **kwargs):
        items = super()._deserialize(value, attr, data, **kwargs)
        try:
            return PatternSet.parse(items)
        except ValueError as error:
            raise ValidationError(str(error))


class Choices(StringOrList):
    def __init__(self, choices: tuple[str, ...], **kwargs):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        items = [i.lower() for i in super()._deserialize(value, attr, data, **kwargs)]
        wrong = [i for i in items if i not in self.choices]
        if wrong:
            raise ValidationError(f"{', '.join(wrong)} not allowed; use {', '.join(self.choices)}")
        return frozenset(items)


class Clock(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            hours, minutes = (int(part) for part in text.split(":"))
            return time(23, 59, 59, 999999) if (hours, minutes) == (24, 0) else time(hours, minutes)
        except ValueError:
            raise ValidationError(f"'{text}' is not a time of day; write HH:MM, e.g. 08:00")


class HoursSchema(_Strict):
    days = fields.Raw(load_default="all")
    from_ = Clock(data_key="from", required=True)
    to = Clock(required=True)
    tz = fields.String(load_default="UTC")

    @post_load
    def build(self, data, **kwargs) -> Window:
        try:
            days = parse_days(data["days"])
        except (ValueError, AttributeError) as error:
            raise ValidationError(str(error), "days")
        try:
            zone = ZoneInfo(data["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"'{data['tz']}' is not an IANA time zone; e.g. Europe/Stockholm", "tz")
        if data["from_"] == data["to"]:
            raise ValidationError("from and to are equal; the window would be empty", "to")
        text = f"{data['days']} {data['from_']:%H:%M}-{data['to']:%H:%M} {data['tz']}"
        return Window(days, data["from_"], data["to"], zone, text)


class HoursField(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list) else [value]
        return tuple(_HOURS.load(item) if isinstance(item, dict) else _not_a_window() for item in items)


def _not_a_window():
    raise ValidationError("must be {days, from, to, tz} or a list of them")


_HOURS = HoursSchema()  # one instance: building a schema deep-copies its fields


# ACE amd.status as the docs list it; "inprogress" is what asynchronous detection first reports
# (its verdict follows in a notify, after the ACE has been answered); "none": the ACE carried no
# verdict (detection was not enabled for the leg).
AMD_STATUSES = ("human", "machine", "notsure", "hangup", "inprogress", "none")


class WhenSchema(_Strict):
    event = Choices(EVENTS)
    domain = Choices(("pstn", "mxp"))
    origin = fields.String(validate=validate.OneOf(("pstn", "app", "callout")))
    cli = Patterns()
    to = Patterns()
    to_type = Choices(("number", "did", "username", "sip"), data_key="to.type")
    header = fields.Dict(keys=fields.String(validate=validate.Length(min=1)), values=Patterns())
    custom = Patterns()
    application_key = Patterns()
    hours = HoursField()
    sample = fields.Float(validate=validate.Range(min=0, max=100, error="must be a percentage from 0 to 100"))
    amd = Choices(AMD_STATUSES)

    @validates_schema
    def amd_only_at_ace(self, data, **kwargs):
        if "amd" in data and "ace" not in data.get("event", frozenset({"ice"})):
            raise ValidationError("the answering-machine verdict arrives with the ACE: add event: ace", "amd")

    @pre_load
    def to_type_spelling(self, data, **kwargs):
        if isinstance(data, dict) and "to_type" in data and "to.type" not in data:
            data = {("to.type" if key == "to_type" else key): value for key, value in data.items()}
        return data

    @post_load
    def build(self, data, **kwargs) -> Conditions:
        return conditions(data)


def conditions(data: dict) -> Conditions:
    """A loaded ``when:`` as the rule's conditions (``WhenSchema``'s post_load, and the compiled loader's)."""
    get = data.get
    header = get("header")
    return Conditions(
        get("event", _ICE), get("domain"), get("origin"), get("cli"), get("to"), get("to_type"),
        tuple(sorted((name.lower(), patterns) for name, patterns in header.items())) if header else (),
        get("custom"), get("application_key"), get("hours", ()), get("sample"), get("amd"),
    )


_ICE = frozenset({"ice"})


class AnnounceSchema(_Strict):
    say = fields.String(validate=validate.Length(min=1, max=MAX_SAY_CHARS))
    play = StringOrList()
    locale = fields.String()

    @post_load
    def build(self, data, **kwargs) -> Announcement:
        if ("say" in data) == ("play" in data):
            raise ValidationError("give either say (text) or play (file URLs or prompts)")
        return Announcement(data.get("say"), tuple(data.get("play", ())), data.get("locale"))


class ConsentSchema(_Strict):
    prompt = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SAY_CHARS))
    accept = fields.String(load_default="1", validate=validate.Regexp(r"^[0-9#*]$", error="must be one key: 0-9, * or #"))
    locale = fields.String()
    timeout_ms = fields.Integer(load_default=5000, validate=validate.Range(min=1000, max=60000))
    repeats = fields.Integer(load_default=1, validate=validate.Range(min=0, max=5))

    @post_load
    def build(self, data, **kwargs) -> Consent:
        return Consent(**data)


class TranscriptionSchema(_Strict):
    locale = fields.String(required=True)


class RecordSchema(_Strict):
    destination = fields.String(required=True)
    format = fields.String(validate=validate.OneOf(FORMATS))
    mode = fields.String(load_default="instruction", validate=validate.OneOf(("instruction", "flag", "conference")))
    announce = fields.Nested(AnnounceSchema)
    consent = fields.Nested(ConsentSchema)
    transcription = fields.Nested(TranscriptionSchema)
    retain_days = fields.Integer(validate=validate.Range(min=1, max=36500, error="must be 1 to 36500 days"))

    @post_load
    def build(self, data, **kwargs) -> RecordPlan:
        transcription = data.get("transcription")
        return RecordPlan(data["destination"], data.get("format"), data["mode"], data.get("announce"),
                          data.get("consent"), transcription["locale"] if transcription else None,
                          data.get("retain_days"))


_RECORD = RecordSchema()


class RecordField(fields.Field):
    """``record: false`` or ``record: {destination: …, …}``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is False:
            return None
        if not isinstance(value, dict):
            raise ValidationError("must be false or a mapping with at least destination")
        return _RECORD.load(value)


class ConnectSchema(_Strict):
    pstn = fields.String()
    sip = fields.String()
    user = fields.String()
    conference = fields.String()
    cli = fields.String()
    max_duration = fields.Integer(validate=validate.Range(min=1, max=MAX_CALL_SECONDS))
    dial_timeout = fields.Integer(validate=validate.Range(min=1, max=600))
    transport = fields.String(validate=validate.OneOf(("UDP", "TCP", "TLS")))
    moh = fields.String(validate=validate.OneOf(MOH))

    @post_load
    def build(self, data, **kwargs) -> Connect:
        targets = [kind for kind in ("pstn", "sip", "user", "conference") if kind in data]
        if len(targets) != 1:
            raise ValidationError("name exactly one of pstn, sip, user, conference (or write connect: dialled)")
        kind = targets[0]
        try:
            target = Template.parse(data[kind], allowed=("callid", "rule", "cli", "to"))
        except TemplateError as error:
            raise ValidationError(error.problems, kind)
        if kind == "conference" and "{" not in data[kind] and len(data[kind]) > MAX_CONFERENCE_ID:
            raise ValidationError(f"is longer than {MAX_CONFERENCE_ID} characters", kind)
        return Connect(kind, target, data.get("cli"), data.get("max_duration"), data.get("dial_timeout"),
                       data.get("transport"), data.get("moh"))


_CONNECT = ConnectSchema()


class ConnectField(fields.Field):
    """``connect: dialled | continue | hangup`` or a mapping naming the target."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if value not in ("dialled", "continue", "hangup"):
                raise ValidationError(f"'{value}' is not a connect word; use dialled, continue, hangup "
                                      "or a mapping such as {pstn: '+46855500000'}")
            return Connect(value)
        if not isinstance(value, dict):
            raise ValidationError("must be dialled, continue, hangup or a mapping such as {pstn: ...}")
        return _CONNECT.load(value)


class UpstreamField(fields.Field):
    """``upstream: merge | only | off`` or ``{mode: merge, url: https://...}`` (sidecar mode)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is False:  # YAML reads a bare `off` as false
            value = "off"
        if isinstance(value, str):
            value = {"mode": value}
        if isinstance(value, dict) and value.get("mode") is False:
            value = {**value, "mode": "off"}
        if not isinstance(value, dict) or set(value) - {"mode", "url"}:
            raise ValidationError("must be merge, only, off, or {mode: ..., url: ...}")
        mode = value.get("mode", "merge")
        if mode not in ("merge", "only", "off"):
            raise ValidationError(f"'{mode}' is not a mode; use merge, only or off")
        url = value.get("url")
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise ValidationError("url must be the upstream's http(s) callback URL")
        return Upstream(mode, url)


class SensitiveSchema(_Strict):
    """``sensitive:`` at the top (every rule) or in a rule (over the top's, key by key): the keys
    given, as a mapping."""

    menus = StringOrList(validate=validate.Length(max=100))
    min_digits = fields.Integer(validate=validate.Range(min=0, max=64, error="must be 0 (no guess) to 64"))
    pause_recording = fields.Boolean()

    @validates_schema
    def menu_ids(self, data, **kwargs):
        for menu in data.get("menus", ()):
            if not isinstance(menu, str) or not menu:
                raise ValidationError("menu ids are non-empty strings, as in runMenu's menus[].id", "menus")


def sensitive_of(given: Mapping | None, under: Sensitive) -> Sensitive:
    """A ``sensitive:`` mapping over the setting it refines (the ruleset's, or the defaults)."""
    if given is None:
        return under
    return Sensitive(frozenset(given["menus"]) if "menus" in given else under.menus,
                     given.get("min_digits", under.min_digits), given.get("pause_recording", under.pause_recording))


WEBHOOK_SECRET = "whsec_"


class WebhookSchema(_Strict):
    """One endpoint of ``webhooks:``: ``{url, secret: ${ENV}, events: [globs]}``."""

    url = fields.String(required=True, validate=validate.URL(schemes={"https", "http"}, require_tld=False,
                                                             error="must be an https:// URL"))
    secret = fields.String(required=True, validate=lambda secret: _webhook_secret(secret))
    events = StringOrList(load_default=list, validate=lambda patterns: _event_globs(patterns))


def _webhook_secret(secret: str) -> None:
    if not REFERENCE.search(secret):  # an unresolved reference is reported as such
        try:
            webhook_key(secret)
        except ValueError as error:
            raise ValidationError(str(error)) from None


def _event_globs(patterns) -> None:
    for pattern in patterns:
        if not isinstance(pattern, str) or not matching([pattern]):
            raise ValidationError(f"{pattern!r} matches no event type; the types are {', '.join(EVENT_TYPES)} "
                                  "(globs such as recording.* or call.* work)")


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the Standard Webhooks form); ValueError if not one."""
    form = "must be whsec_ followed by base64, as flask webhooks secret prints one"
    if not secret.startswith(WEBHOOK_SECRET):
        raise ValueError(form)
    try:
        key = base64.b64decode(secret[len(WEBHOOK_SECRET):], validate=True)
    except ValueError:
        raise ValueError(form) from None
    if len(key) < 24:
        raise ValueError("is too short: use at least 24 random bytes (flask webhooks secret prints one)")
    return key


class RuleSchema(_Strict):
    id = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$", error="must be 1-64 letters, digits, '.', '_' or '-'"))
    when = fields.Nested(WhenSchema, load_default=None)
    record = RecordField(load_default=None)
    connect = ConnectField(load_default=None)
    upstream = UpstreamField(load_default=None)
    sensitive = fields.Nested(SensitiveSchema, load_default=None)


class RuleList(fields.List):
    """``rules:``, each rule through the compiled loader when it knows the rule's shape, else through
    ``RuleSchema`` (marshmallow's ``List``, with that shortcut; errors are keyed by index as there)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not is_collection(value):
            raise self.make_error("invalid")
        schema = self.inner.schema
        compiled = rule_loader(schema, schema.fields["when"].schema, conditions)
        result, errors = [], {}
        for index, each in enumerate(value):
            loaded = compiled(each)
            if loaded is not None:
                result.append(loaded)
                continue
            try:
                result.append(self.inner.deserialize(each, **kwargs))
            except ValidationError as error:
                if error.valid_data is not None:
                    result.append(error.valid_data)
                errors[index] = error.messages
        if errors:
            raise ValidationError(errors, valid_data=result)
        return result


class DestinationSchema(_Strict):
    url = fields.String(required=True)
    # What Sinch writes with; a profile used only as a copy target has none.
    sinch_credentials = fields.String(load_default="", validate=validate.Length(min=1, error="is empty"))
    read = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    write = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)  # copies write with these
    format = fields.String(load_default="mp3", validate=validate.OneOf(FORMATS))
    transcription_locale = fields.String()

    @validates_schema
    def url_is_a_key_template(self, data, **kwargs):
        try:
            template = KeyTemplate.parse(data.get("url", ""))
        except TemplateError as error:
            raise ValidationError(error.problems, "url")
        for section in ("read", "write"):
            unknown = sorted(set(data.get(section, {})) - READ_KEYS[template.scheme])
            if unknown:
                raise ValidationError(f"{', '.join(unknown)} not known for {template.scheme}://; use "
                                      f"{', '.join(sorted(READ_KEYS[template.scheme]))}", section)


class EvidenceSchema(_Strict):
    """``evidence:``: where each signed tree head of the transparency log is also written."""

    destination = fields.String(required=True)
    prefix = fields.String(load_default="evidence/", validate=validate.Regexp(
        r"^([A-Za-z0-9_.\-]+/)*$", error="must be folders ending in / (letters, digits, _ . -), e.g. evidence/"))


class RulesetSchema(_Strict):
    version = fields.Integer(required=True, validate=validate.Equal(1, error="must be 1"))
    allow_literal_credentials = fields.Boolean(load_default=False)
    destinations = fields.Dict(keys=fields.String(validate=validate.Regexp(
                                   r"^[A-Za-z0-9][A-Za-z0-9_\-]*$", error="names use letters, digits, '_' and '-'")),
                               values=fields.Nested(DestinationSchema), load_default=dict)
    rules = RuleList(fields.Nested(RuleSchema), required=True,
                     validate=validate.Length(min=1, error="needs at least the default rule"))
    sensitive = fields.Nested(SensitiveSchema, load_default=None)
    webhooks = fields.Dict(keys=fields.String(validate=validate.Regexp(
                               r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$", error="names use letters, digits, '_' and '-'")),
                           values=fields.Nested(WebhookSchema), load_default=dict)
    evidence = fields.Nested(EvidenceSchema, load_default=None)

    @validates_schema
    def evidence_has_a_destination(self, data, **kwargs):
        evidence, destinations = data.get("evidence"), data.get("destinations") or {}
        if evidence and evidence["destination"] not in destinations:
            known = ", ".join(sorted(destinations)) or "none defined"
            raise ValidationError({"destination": [f"'{evidence['destination']}' is not a destination (known: "
                                                   f"{known})"]}, "evidence")

    @validates_schema
    def rules_hang_together(self, data, **kwargs):
        rules, destinations = data.get("rules") or [], data.get("destinations") or {}
        problems: dict = {}

        def problem(index: int, where: str, text: str) -> None:
            node = problems.setdefault(index, {})
            for part in where.split(".")[:-1]:
                node = node.setdefault(part, {})
            node.setdefault(where.split(".")[-1], []).append(text)

        seen: dict[str, int] = {}
        for index, rule in enumerate(rules):
            when = rule["when"] or Conditions()
            record, connect = rule["record"], rule["connect"]
            if rule["id"] in seen:
                problem(index, "id", f"'{rule['id']}' is already used by rules[{seen[rule['id']]}]; ids must be unique")
            seen.setdefault(rule["id"], index)
            kind = connect.kind if connect else ("dialled" if "ice" in when.events else "continue")
            if kind == "dialled" and when.to_type is not None and "did" in when.to_type:
                problem(index, "connect", "dialled on a call to your own Sinch number (to.type did) would call that "
                                          "number again: name where such calls go ({pstn: ...}, {sip: ...}, "
                                          "{user: ...} or {conference: ...})")
            for event in sorted(when.events):
                if kind == "dialled" and event != "ice":
                    problem(index, "connect", f"dialled needs the ICE of the call; a rule for {event} can connect "
                                              "continue, hangup, conference or a fixed pstn/sip target")
                elif kind != "dialled" and CONNECT_ACTIONS[kind] not in ACTIONS_ALLOWED[event]:
                    problem(index, "connect", f"{kind} is not allowed in a {event} reply (Sinch would reject it)")
            if record is None:
                continue
            if record.destination not in destinations:
                known = ", ".join(sorted(destinations)) or "none defined"
                problem(index, "record.destination", f"'{record.destination}' is not a destination (known: {known})")
            elif not destinations[record.destination].get("sinch_credentials"):
                problem(index, "record.destination", f"'{record.destination}' has no sinch_credentials, so Sinch "
                                                     "cannot write there (a profile without them is a copy target)")
            if record.mode == "conference" and kind != "conference":
                problem(index, "record.mode", "conference recording needs connect: {conference: ...}")
            if record.mode == "instruction" and kind == "user":
                problem(index, "record.mode", "Sinch does not record app calls (connectMxp) with instructions; "
                                              "use mode: flag")
            if record.mode != "instruction" and kind in ("hangup",):
                problem(index, "record.mode", "nothing to record: the rule hangs up")
            if record.consent is not None:
                if rule["upstream"] is not None and rule["upstream"].mode != "off":
                    problem(index, "record.consent", "in sidecar mode the upstream owns the menus: consent needs "
                                                     "upstream: off on this rule")
                if when.events != frozenset({"ice"}):
                    problem(index, "record.consent", "consent is asked in answer to the ICE; use it in an ice rule")
                if kind == "user" or when.domain == frozenset({"mxp"}):
                    problem(index, "record.consent", "Sinch sends no PIE for app calls, so consent cannot be asked")
        if rules:
            last = rules[-1]
            if last["when"] is not None and not last["when"].is_default:
                problems.setdefault(len(rules) - 1, {}).setdefault("when", []).append(
                    "the last rule must be the default: remove its when so every call gets an answer")
        if problems:
            raise ValidationError({"rules": problems})


# --------------------------------------------------------------------------- loading


def parse_ruleset(text: str, environ: Mapping[str, str], *, source: str = "<memory>",
                  allow_literal_credentials: bool = False) -> Ruleset:
    """A validated ruleset from YAML text, or :class:`RulesError` listing every problem.

    Four stages, each its own function so ``benchmarks/rules.py`` can time them: :func:`read`,
    :func:`interpolate`, :func:`validate`, :func:`build`. Python's cycle collector is paused for
    the whole load: the hundreds of thousands of objects a large ruleset creates would otherwise
    set it off over and over (half the validation time at 100 000 rules), and none of them can be
    garbage until the load returns.
    """
    with collector_paused():
        tree = read(text, source)
        allow = allow_literal_credentials or tree.get("allow_literal_credentials") is True
        tree, problems = interpolate(tree, environ, allow)
        return build(validate(tree, problems, source), text, source)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cycle collector (it is resumed only by whoever paused it first)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def read(text: str, source: str = "<memory>") -> dict:
    """The file's YAML as a mapping (PyYAML's safe loader's reading, duplicate keys refused)."""
    try:
        tree = yaml_reader.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the file"
        raise RulesError({where: [f"is not valid YAML: {getattr(error, 'problem', None) or error}"]}, source)
    if not isinstance(tree, dict):
        raise RulesError({"_file": ["must be a mapping with version, destinations and rules"]}, source)
    return tree


def validate(tree: dict, problems: dict[str, list[str]], source: str = "<memory>") -> dict:
    """The tree loaded by :class:`RulesetSchema`, or RulesError with its problems and ``problems``."""
    try:
        data = RulesetSchema().load(tree)
    except ValidationError as error:
        for path, text_ in flatten_messages(error.messages).items():
            problems.setdefault(_DICT_VALUE.sub(r"\1", path), []).extend(text_)
        data = None
    if problems:
        raise RulesError(problems, source)
    return data


def build(data: dict, text: str, source: str = "<memory>") -> Ruleset:
    """The :class:`Ruleset` of validated data, with its rule index and the hash of ``text``."""
    destinations = {
        name: Destination(name, KeyTemplate.parse(spec["url"]), spec["sinch_credentials"], dict(spec["read"]),
                          spec["format"], spec.get("transcription_locale"), dict(spec["write"]))
        for name, spec in data["destinations"].items()
    }
    sensitive = sensitive_of(data["sensitive"], Sensitive())
    rules = tuple(
        Rule(rule["id"], index, rule["when"] or Conditions(),
             rule["connect"] or Connect("dialled" if "ice" in (rule["when"] or Conditions()).events else "continue"),
             rule["record"], rule["upstream"],
             sensitive_of(rule["sensitive"], sensitive) if rule["sensitive"] is not None else None)
        for index, rule in enumerate(data["rules"])
    )
    webhooks = {name: WebhookEndpoint(name, spec["url"], webhook_key(spec["secret"]), tuple(spec["events"]))
                for name, spec in data["webhooks"].items()}
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    evidence = EvidenceCopies(**data["evidence"]) if data["evidence"] else None
    return Ruleset(1, destinations, rules, digest, source, index=RuleIndex(rules), sensitive=sensitive,
                   webhooks=webhooks, evidence=evidence)


def load_ruleset(path: Path, environ: Mapping[str, str], *, allow_literal_credentials: bool = False) -> Ruleset:
    return parse_ruleset(read_file(path), environ, source=str(path),
                         allow_literal_credentials=allow_literal_credentials)


def read_file(path: Path) -> str:
    """A ruleset file's text, or :class:`RulesFileUnreadable`."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesFileUnreadable(path, error.strerror)
