"""A ruleset a person writes from the README: forgiving where YAML surprises, exact where it helps."""

import textwrap

import pytest
from click.testing import CliRunner

from app.rules.schema import RulesError, parse_ruleset

BASE = """
version: 1
destinations:
  d:
    url: s3://b/{callid}-{segment}.{format}
    sinch_credentials: ${K}:${S}:eu-central-1
    read: {access_key: "${RK}", secret_key: "${RS}", region: eu-central-1}
rules:
%s
  - id: default
    record: false
    connect: dialled
"""
ENV = {"K": "k", "S": "s", "RK": "rk", "RS": "rs"}


def problems(body: str, env: dict) -> dict:
    with pytest.raises(RulesError) as caught:
        parse_ruleset(body, env)
    return caught.value.problems


def test_upstream_off_written_bare_as_the_readme_shows_is_accepted():
    for written in ("upstream: off", "upstream: {mode: off}", 'upstream: "off"'):
        body = BASE % textwrap.indent(f"- id: a\n  when: {{to: '+46*'}}\n  {written}\n  connect: dialled", "  ")
        ruleset = parse_ruleset(body, ENV)
        assert ruleset.rules[0].upstream.mode == "off", written


def test_an_unknown_key_gets_a_did_you_mean():
    body = BASE % "  - id: a\n    when: {too: '+46*'}\n    connect: dialled"
    assert problems(body, ENV)["rules[0].when.too"] == ["Unknown field; did you mean 'to'?"]
    body = BASE % "  - id: a\n    when: {to: '+46*'}\n    conect: dialled"
    assert problems(body, ENV)["rules[0].conect"] == ["Unknown field; did you mean 'connect'?"]


def test_the_advice_for_an_unset_secret_is_advice_that_works():
    found = problems(BASE % "", {"K": "k", "RK": "rk"})
    secret = found["destinations.d.sinch_credentials"][0] + found["destinations.d.read.secret_key"][0]
    assert "export S=" in secret and "heroku config:set RS=" in secret and ":-default" not in secret
    # following the advice for a secret (set it) loads; following the old advice (a default) would not
    assert parse_ruleset(BASE % "", ENV)
    assert "destinations.d.sinch_credentials" in problems((BASE % "").replace("${S}", "${S:-x}"), {**ENV})


def test_destinations_list_names_profiles_and_never_shows_a_credential(make_app, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(BASE % "")
    import os

    os.environ.update({"K": "write-key-id", "S": "write-secret-xyz", "RK": "read-key-id", "RS": "read-secret-xyz"})
    try:
        app = make_app(RULES_FILE=str(rules))
        result = app.test_cli_runner().invoke(args=["destinations", "list"])
    finally:
        for name in ENV:
            os.environ.pop(name, None)
    assert result.exit_code == 0, result.output
    assert "d: s3://b/{callid}-{segment}.{format} (mp3); sinch_credentials: set; read: access_key, region, " \
           "secret_key; copies write with read: (no write: section)" in result.output
    assert "secret-xyz" not in result.output and "key-id" not in result.output


def test_domain_and_to_type_choices_agree_across_commands():
    from app.rules.cli import explain_command
    from app.simulator.cli import call_command, load_command

    def choices(command, name):
        return next(tuple(param.type.choices) for param in command.params if param.name == name)

    for name in ("domain", "to_type"):
        assert choices(explain_command, name) == choices(call_command, name) == choices(load_command, name)
    assert CliRunner().invoke(call_command, ["--domain", "sip"]).exit_code == 2  # not a domain Sinch sends


def test_the_simulators_default_call_is_recorded_by_the_demo_ruleset_at_any_hour():
    """The old default (+46812345678) hit an office-hours rule: `simulate load` recorded nothing at night."""
    from datetime import datetime, timezone

    from app.rules.decide import decide
    from app.rules.loader import DEMO_RULES
    from app.rules.schema import load_ruleset
    from app.simulator.cli import call_command, load_command

    defaults = {command.name: next(p.default for p in command.params if p.name == "to")
                for command in (call_command, load_command)}
    assert len(set(defaults.values())) == 1
    ruleset = load_ruleset(DEMO_RULES, {})
    event = {"event": "ice", "callid": "c1", "domain": "pstn", "cli": "+46701234567",
             "to": {"type": "number", "endpoint": defaults["call"]}}
    for hour in (3, 12, 23):
        decision = decide(event, ruleset, datetime(2026, 11, 29, hour, tzinfo=timezone.utc))
        assert decision.rule_id == "try-it" and decision.recordings, hour


def test_a_copy_target_needs_no_sinch_credentials_but_a_rule_cannot_record_there():
    copy_only = BASE.replace("""  d:
    url""", """  archive:
    url: s3://archive/{callid}-{segment}.{format}
    write: {access_key: "${WK}", secret_key: "${WS}"}
    read: {access_key: "${RK}", secret_key: "${RS}"}
  d:
    url""")
    env = {**ENV, "WK": "wk", "WS": "ws"}
    ruleset = parse_ruleset(copy_only % "", env)
    archive = ruleset.destinations["archive"]
    assert archive.sinch_credentials == "" and archive.copy_credentials == {"access_key": "wk", "secret_key": "ws"}
    recording_there = copy_only % "  - id: a\n    when: {to: '+46*'}\n    record: {destination: archive}"
    assert problems(recording_there, env)["rules[0].record.destination"] == [
        "'archive' has no sinch_credentials, so Sinch cannot write there (a profile without them is a copy target)"]
    literal = copy_only.replace('"${WS}"', "plain-secret")
    assert "is a secret" in problems(literal % "", env)["destinations.archive.write.secret_key"][0]
