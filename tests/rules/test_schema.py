import base64
import textwrap

import pytest

from app.rules.schema import RulesError, load_ruleset, parse_ruleset
from tests.processes import ROOT
from tests.support import RULES_DIR

ARCH_ENV = {
    "REC_S3_WRITE_KEY": "AKIAWRITE", "REC_S3_WRITE_SECRET": "write-secret", "REC_S3_READ_KEY": "AKIAREAD",
    "REC_S3_READ_SECRET": "read-secret", "AZURE_STORAGE_KEY": "QUJDREVGR0g=",
    "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey=QUJD",
    "GCS_HMAC_KEY": "GOOGHMAC", "GCS_HMAC_SECRET": "hmac-secret",
}

DEST = """
destinations:
  s3:
    url: s3://bucket/{callid}-{segment}.{format}
    sinch_credentials: ${K}:${S}:eu-central-1
"""


def ruleset(body: str, env=None, **kwargs):
    return parse_ruleset(textwrap.dedent(body), {"K": "key", "S": "secret", **(env or {})}, **kwargs)


def problems(body: str, env=None) -> dict:
    with pytest.raises(RulesError) as caught:
        ruleset(body, env)
    return caught.value.problems


def test_the_architecture_example_loads_and_means_what_it_says():
    rules = load_ruleset(RULES_DIR / "architecture_example.yaml", ARCH_ENV)
    support, sales, rooms, default = rules.rules
    assert [r.id for r in rules.rules] == ["support-line", "sales-consent", "rooms", "default"]
    assert support.record.destination == "eu-calls" and support.record.format == "wav"
    assert support.record.announce.say.startswith("This call is recorded")
    assert support.record.transcription_locale == "en-US"
    assert support.connect.kind == "pstn" and support.connect.cli == "+46812345678"
    assert [p.text for p in support.when.to.positive] == ["+46812345678", "+4681234*"]
    assert support.when.hours[0].tz.key == "Europe/Stockholm"
    assert sales.when.sample == 50 and sales.record.consent.accept == "1" and sales.connect.kind == "dialled"
    assert rooms.record.mode == "conference" and rooms.connect.kind == "conference"
    assert rooms.when.headers[0][0] == "x-room"
    assert default.record is None and default.connect.kind == "dialled" and default.when.is_default
    eu = rules.destinations["eu-calls"]
    assert eu.sinch_credentials == "AKIAWRITE:write-secret:eu-central-1"
    assert eu.read == {"endpoint_url": "", "access_key": "AKIAREAD", "secret_key": "read-secret", "region": "eu-central-1"}
    assert "write-secret" not in repr(rules) and "read-secret" not in repr(eu)


def test_the_shipped_example_loads_without_any_environment():
    rules = load_ruleset(ROOT / "config" / "rules.example.yaml", {})
    assert rules.rules[-1].id == "default" and len(rules.destinations) == 3
    assert {r.record.mode for r in rules.rules if r.record} == {"instruction", "flag", "conference"}


def test_environment_defaults_and_values():
    rules = ruleset(DEST.replace("${S}", "${SECRET_X:-fallback}") + "version: 1\nrules: [{id: d}]",
                    allow_literal_credentials=True)
    assert rules.destinations["s3"].sinch_credentials == "key:fallback:eu-central-1"


def test_hash_identifies_the_file():
    a = ruleset(DEST + "version: 1\nrules: [{id: d}]")
    b = ruleset(DEST + "version: 1\nrules: [{id: other}]")
    assert a.hash != b.hash and a.hash == ruleset(DEST + "version: 1\nrules: [{id: d}]").hash


@pytest.mark.parametrize("body, path, fragment", [
    ("version: 2\nrules: [{id: d}]", "version", "must be 1"),
    ("version: 1\nrules: []", "rules", "default rule"),
    ("version: 1\nrules: [{id: a, when: {to: '+46*'}}]", "rules[0].when", "last rule must be the default"),
    ("version: 1\nrules: [{id: a, when: {to: ['+46*', 5]}}, {id: d}]", "rules[0].when.to", "pattern"),
    ("version: 1\nrules: [{id: a, when: {to: ['+46*1']}}, {id: d}]", "rules[0].when.to", "* may only end"),
    ("version: 1\nrules: [{id: a, when: {cli: ''}}, {id: d}]", "rules[0].when.cli", "empty pattern"),
    ("version: 1\nrules: [{id: a, when: {domain: voip}}, {id: d}]", "rules[0].when.domain", "use pstn, mxp"),
    ("version: 1\nrules: [{id: a, when: {to.type: fax}}, {id: d}]", "rules[0].when.to.type", "use number"),
    ("version: 1\nrules: [{id: a, when: {sample: 150}}, {id: d}]", "rules[0].when.sample", "percentage"),
    ("version: 1\nrules: [{id: a, when: {hours: {days: mon-fry, from: '08:00', to: '18:00'}}}, {id: d}]",
     "rules[0].when.hours.days", "mon-fri"),
    ("version: 1\nrules: [{id: a, when: {hours: {days: mon, from: '8am', to: '18:00'}}}, {id: d}]",
     "rules[0].when.hours.from", "HH:MM"),
    ("version: 1\nrules: [{id: a, when: {hours: {from: '08:00', to: '18:00', tz: Mars/Olympus}}}, {id: d}]",
     "rules[0].when.hours.tz", "IANA"),
    ("version: 1\nrules: [{id: a, when: {colour: red}}, {id: d}]", "rules[0].when.colour", "Unknown field"),
    ("version: 1\nrules: [{id: a}, {id: a}]", "rules[1].id", "already used by rules[0]"),
    ("version: 1\nrules: [{id: 'has space'}]", "rules[0].id", "letters, digits"),
    ("version: 1\nrules: [{id: a, record: {destination: nowhere}}]", "rules[0].record.destination", "not a destination"),
    ("version: 1\nrules: [{id: a, connect: teleport}]", "rules[0].connect", "dialled, continue, hangup"),
    ("version: 1\nrules: [{id: a, connect: {pstn: '+1', sip: 'a@b'}}]", "rules[0].connect", "exactly one"),
    ("version: 1\nrules: [{id: a, connect: {conference: 'room-{nope}'}}]", "rules[0].connect.conference", "unknown placeholder"),
    ("version: 1\nrules: [{id: a, when: {event: ace}, connect: dialled}, {id: d}]", "rules[0].connect", "dialled needs the ICE"),
    ("version: 1\nrules: [{id: a, when: {event: ace}, connect: {pstn: '+1'}}, {id: d}]", "rules[0].connect", "not allowed in a ace reply"),
    ("version: 1\nrules: [{id: a, record: {destination: s3, mode: conference}}]", "rules[0].record.mode", "connect: {conference"),
    ("version: 1\nrules: [{id: a, record: {destination: s3}, connect: {user: bob}}]", "rules[0].record.mode", "use mode: flag"),
    ("version: 1\nrules: [{id: a, record: {destination: s3, consent: {prompt: hi}}, connect: {user: bob}}]",
     "rules[0].record.consent", "no PIE for app calls"),
    ("version: 1\nrules: [{id: a, record: {destination: s3, consent: {prompt: hi, accept: '12'}}}]",
     "rules[0].record.consent.accept", "one key"),
    ("version: 1\nrules: [{id: a, record: {destination: s3, announce: {say: hi, play: x}}}]",
     "rules[0].record.announce", "either say"),
    ("version: 1\nrules: [{id: a, record: {destination: s3, format: ogg}}]", "rules[0].record.format", "Must be one of"),
    ("version: 1\nrules: [{id: a, record: yes}]", "rules[0].record", "false or a mapping"),
])
def test_errors_name_the_path_and_the_fix(body, path, fragment):
    found = problems(DEST + body)
    assert path in found, found
    assert fragment in " ".join(found[path])


@pytest.mark.parametrize("url, fragment", [
    ("s3://bucket/{callid}.{format}", "same key"),
    ("s3://bucket/{segment}.{format}", "same key"),
    ("s3://bucket/calls/", "file name"),
    ("s3://bucket", "s3://bucket/<key>"),
    ("s3://{rule}/{uuid}.mp3", "fixed bucket"),
    ("azure://account/{uuid}.mp3", "account and container"),
    ("ftp://host/{uuid}", "must start with"),
    ("s3://bucket/{callid}-{segment}-{colour}", "unknown placeholder {colour}"),
    ("s3://bucket/{date}/{uuid}", "strftime"),
    ("s3://bucket/{uuid}}", "unbalanced"),
])
def test_key_templates_that_could_collide_or_are_malformed_are_refused(url, fragment):
    found = problems(DEST.replace("s3://bucket/{callid}-{segment}.{format}", url) + "version: 1\nrules: [{id: d}]")
    assert fragment in " ".join(found["destinations.s3.url"])


@pytest.mark.parametrize("url, credentials", [
    ("s3://b/{uuid}", "${K}:${S}:eu-central-1"), ("s3://b/{callid}/{segment}.mp3", "${K}:${S}:eu-central-1"),
    ("azure://acct/cont/{date:%Y}/{callid}-{segment}-{rule}.wav", "${K}"), ("gs://b/{header.x-tenant}/{uuid}", "${K}:${S}"),
])
def test_unique_key_templates_are_accepted(url, credentials):
    body = f"version: 1\ndestinations: {{d: {{url: '{url}', sinch_credentials: '{credentials}'}}}}\nrules: [{{id: x}}]"
    assert ruleset(body).destinations["d"].url.template.text == url


@pytest.mark.parametrize("credentials, read", [
    ("AKIAKEY:literal-secret:eu-central-1", ""),
    ("${K}:literal-secret:eu-central-1", ""),
    ("${K}:${S:-demo-secret}:eu-central-1", ""),
    ("${K}:${S}:eu-central-1", "secret_key: plain-read-secret"),
    ("${K}:${S}:eu-central-1", "secret_key: '${S:-default}'"),
])
def test_literal_credentials_are_refused(credentials, read):
    body = f"""
    version: 1
    destinations:
      s3:
        url: s3://bucket/{{uuid}}
        sinch_credentials: {credentials}
        read: {{{read}}}
    rules: [{{id: d}}]
    """
    found = problems(body)
    assert any("environment reference" in " ".join(text) for text in found.values())
    assert not any("literal-secret" in " ".join(text) or "plain-read-secret" in " ".join(text) for text in found.values())
    assert ruleset(body, allow_literal_credentials=True)  # the development flag
    assert ruleset("allow_literal_credentials: true\n" + textwrap.dedent(body))


@pytest.mark.parametrize("url, credentials", [
    ("azure://acct/cont/{uuid}", "${K}"), ("gs://b/{uuid}", "${K}:${S}"), ("s3://b/{uuid}", "${K}:${S}:${REGION:-eu-west-1}"),
])
def test_credentials_from_the_environment_are_accepted(url, credentials):
    body = f"version: 1\ndestinations: {{d: {{url: '{url}', sinch_credentials: '{credentials}'}}}}\nrules: [{{id: x}}]"
    assert ruleset(body).destinations["d"].sinch_credentials


def test_missing_environment_variables_are_named():
    with pytest.raises(RulesError) as caught:
        parse_ruleset(DEST + "version: 1\nrules: [{id: d}]", {})
    text = str(caught.value)
    assert "environment variable K is not set" in text and "environment variable S is not set" in text


def test_yaml_syntax_errors_give_the_line():
    found = problems("version: 1\nrules:\n  - id: d\n    when: {to: [+46\n")
    assert any(path.startswith("line ") for path in found)


def test_every_problem_is_reported_at_once():
    found = problems(DEST + "version: 1\nrules: [{id: a, when: {sample: 900}, record: {destination: x}}, {id: a}]")
    assert "rules[0].when.sample" in found and "rules[0].record.destination" not in found  # field errors first
    found = problems(DEST + "version: 1\nrules: [{id: a, record: {destination: x}}, {id: a}]")
    assert {"rules[0].record.destination", "rules[1].id"} <= set(found)


WEBHOOK_KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_webhooks_load_with_their_key_and_never_show_it():
    loaded = ruleset("version: 1\nwebhooks:\n  crm: {url: 'https://crm.example/hooks', secret: '${CRM}', "
                     "events: [recording.verified, 'call.*']}\nrules: [{id: d}]", {"CRM": WEBHOOK_KEY})
    crm = loaded.webhooks["crm"]
    assert (crm.url, crm.key, crm.events) == ("https://crm.example/hooks", b"k" * 32, ("recording.verified", "call.*"))
    assert WEBHOOK_KEY[6:] not in repr(loaded) and "kkkk" not in repr(crm)


@pytest.mark.parametrize("webhook, path, fragment", [
    ("{url: 'https://x.example/h', secret: '${CRM}', events: [recording.verfied]}", "webhooks.crm.events",
     "'recording.verfied' matches no event type"),
    ("{url: 'ftp://x.example/h', secret: '${CRM}'}", "webhooks.crm.url", "https:// URL"),
    ("{url: 'https://x.example/h', secret: '${SHORT}'}", "webhooks.crm.secret", "too short"),
    ("{url: 'https://x.example/h', secret: '${PLAIN}'}", "webhooks.crm.secret", "whsec_ followed by base64"),
    ("{url: 'https://x.example/h', secret: 'whsec_a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5'}", "webhooks.crm.secret",
     "environment reference"),
    ("{url: 'https://x.example/h'}", "webhooks.crm.secret", "Missing data"),
])
def test_webhook_problems_name_the_path_and_the_fix(webhook, path, fragment):
    env = {"CRM": WEBHOOK_KEY, "SHORT": "whsec_" + base64.b64encode(b"short").decode(), "PLAIN": "hunter2"}
    found = problems(f"version: 1\nwebhooks:\n  crm: {webhook}\nrules: [{{id: d}}]", env)
    assert path in found, found
    assert fragment in " ".join(found[path])


def test_rules_are_found_by_id_through_the_index_as_by_a_scan():
    import dataclasses
    import random

    from benchmarks.rules import ruleset_yaml

    ruleset = parse_ruleset(ruleset_yaml(2000, random.Random(2))[0], {"K": "k", "S": "s"})
    scanned = dataclasses.replace(ruleset, index=None)
    for rule in ruleset.rules:
        assert ruleset.rule(rule.id) is rule and scanned.rule(rule.id) is rule
        assert ruleset.sensitive_for(rule.id) == scanned.sensitive_for(rule.id)
    assert ruleset.rule("no-such-rule") is None and scanned.rule("no-such-rule") is None


def reference_interpolate(tree, environ, allow_literal):
    """Interpolation as it walked before the rules were walked apart: every node, every path."""
    from app.rules.schema import _is_secret, _literal_secret, fill_references

    problems = {}

    def walk(node, path, parent_key, siblings):
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
        return fill_references(node, path, _is_secret(path, parent_key), environ, problems)

    return walk(tree, "", None, None), problems


def test_interpolation_gives_what_visiting_every_node_gives():
    import copy
    import re

    from app.rules import yaml_reader
    from app.rules.schema import interpolate
    from tests.rules.corpus import ruleset_texts, typed

    checked = 0
    for _, text in ruleset_texts() + [("rules with references", REFERENCES)]:
        try:
            tree = yaml_reader.pyyaml_load(text)
        except Exception:  # noqa: BLE001 - fragments that are not YAML
            continue
        names = re.findall(r"\$\{([A-Za-z_0-9]+)", text)
        for environ in ({}, {name: f"v-{name}" for name in names}, {name: "" for name in names[::2]}):
            for allow in (False, True):
                before = copy.deepcopy(tree)
                got, expected = interpolate(tree, environ, allow), reference_interpolate(tree, environ, allow)
                assert typed(got[0]) == typed(expected[0]) and got[1] == expected[1], text
                assert typed(tree) == typed(before)  # the tree read is left as it was
                checked += 1
    assert checked > 300


REFERENCES = """
version: 1
destinations:
  s3: {url: "s3://b/{callid}.{format}", sinch_credentials: "${K}:${S}:eu-north-1"}
rules:
  - id: forward
    when: {to: ["${DID:-+4612*}", "+4613*"], header: {x-t: "${TENANT}"}}
    connect: {pstn: "${FORWARD_TO}", cli: "${CLI:-+4600}"}
    record: {destination: s3, announce: {say: "Recorded by ${COMPANY} (${MISSING})"}}
  - id: default
    connect: {conference: "room-${ROOM}-{callid}"}
"""
