import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from app.rules.cli import cli
from tests.processes import ROOT
from tests.support import SinchClient

EXAMPLE = str(ROOT / "config" / "rules.example.yaml")


def run(*args, env=None, obj=None):
    return CliRunner().invoke(cli, list(args), env={"RULES_FILE": EXAMPLE, **(env or {})}, obj=obj)


def test_check_ok_and_exit_zero():
    result = run("check")
    assert result.exit_code == 0 and "OK — 9 rules, 3 destinations" in result.output


def test_check_lists_every_problem_and_exits_non_zero(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndestinations:\n  d: {url: 's3://b/{callid}.mp3', sinch_credentials: 'AKIA:secret:r'}\n"
                   "rules:\n  - id: x\n    when: {to: ['+46*1']}\n")
    result = run("check", str(bad))
    assert result.exit_code == 1
    assert "destinations.d.url: could give two recordings the same key" in result.output
    assert "destinations.d.sinch_credentials: holds a literal secret" in result.output
    assert "rules[0].when.to:" in result.output and "run 'flask rules check' again" in result.output
    assert "secret:r" not in result.output


def test_check_works_even_when_the_configured_file_is_broken(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nrules: []\n")
    assert run("check", env={"RULES_FILE": str(bad)}).exit_code == 1
    assert run("check", EXAMPLE, env={"RULES_FILE": str(bad)}).exit_code == 0


def test_explain_names_the_rule_and_why_earlier_ones_missed():
    result = run("explain", "--cli", "+46701111111", "--to", "+46812345678", "--at", "2026-11-29T10:00:00+01:00")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  ✗ support-line: 2026-11-29T10:00+01:00 is outside mon-fri 08:00-18:00 Europe/Stockholm" in lines
    assert "  ✗ sales-consent: to +46812345678 does not match +4670*, !+467099*" in lines
    assert "  ✗ rooms: header x-room (absent) does not match *" in lines
    assert "  ✓ default: matched (no conditions (default))" in lines
    assert "records: nothing" in result.output


def test_explain_shows_the_svaml_with_credentials_masked():
    result = run("explain", "--to", "+46812345678", "--at", "2026-11-23T10:00:00+01:00")
    assert "✓ support-line" in result.output and '"credentials": "***"' in result.output
    assert "records: s3://demo-recordings/calls/2026/11/23/explain-call-1.wav (wav, instruction, segment 1)" in result.output
    assert "demo-write-secret" not in result.output


def test_explain_conference_and_consent():
    room = run("explain", "--to", "bob", "--domain", "mxp", "--header", "x-room=standup")
    assert "✓ rooms: matched (header.x-room=*)" in room.output and '"conferenceId": "room-standup"' in room.output
    bad = run("explain", "--header", "no-equals-sign")
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.output


def test_explain_a_stored_call_against_a_draft(make_app, tmp_path):
    app = make_app(RULES_FILE=EXAMPLE)
    SinchClient(app.test_client()).post({"event": "ice", "callid": "replay-1", "cli": "+19005551234",
                                         "to": {"type": "number", "endpoint": "+46855512345"}, "domain": "pstn"})
    info = ScriptInfo(create_app=lambda: app)
    same = run("explain", "--call", "replay-1", obj=info)
    assert same.exit_code == 0, same.output
    assert "was rule blocked, now rule blocked — unchanged" in same.output and "0 of 1 replies would change" in same.output

    draft = tmp_path / "draft.yaml"
    draft.write_text("version: 1\nrules:\n  - id: default\n    connect: {pstn: '+46800000000'}\n")
    changed = run("explain", "--call", "replay-1", "--rules", str(draft), obj=info)
    assert "was rule blocked, now rule default — CHANGES" in changed.output
    assert '"number": "+46800000000"' in changed.output and "1 of 1 replies would change" in changed.output
    missing = run("explain", "--call", "nope", obj=info)
    assert missing.exit_code == 1 and "no answered ICE/ACE/PIE of call nope" in missing.output


@pytest.mark.parametrize("at", ["yesterday", "2026-13-01"])
def test_explain_rejects_bad_times(at):
    result = run("explain", "--to", "+1", "--at", at)
    assert result.exit_code == 2 and "ISO-8601" in result.output


def test_the_simulator_takes_call_headers_the_same_way():
    from app.simulator.cli import cli as sinch_cli

    result = CliRunner().invoke(sinch_cli, ["simulate", "call", "--key", "k", "--secret", "c2VjcmV0",
                                            "--header", "no-equals-sign"])
    assert result.exit_code == 2 and "'no-equals-sign' is not NAME=VALUE" in result.output


def test_check_reports_a_malformed_placeholder_and_the_collision_together(tmp_path):
    """Both problems of ``s3://b/calls/{date}.mp3`` in one run, in the order a user fixes them:
    the format first, then the overwrite risk (it used to take two runs to see the second)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndestinations:\n  d: {url: 's3://b/calls/{date}.mp3', sinch_credentials: '${K}'}\n"
                   "rules: []\n")
    result = run("check", str(bad), env={"K": "AKIA:s:r"})
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "destinations.d.url" in line]
    assert len(lines) == 2, result.output
    assert "{date} needs a strftime format" in lines[0] and "could give two recordings the same key" in lines[1]


def test_explain_shows_an_answering_machine_left_unrecorded():
    machine = run("explain", "--event", "ace", "--amd", "machine")
    assert machine.exit_code == 0, machine.output
    assert "  ✗ callouts-on-answer: amd machine is not human/none/notsure" in machine.output
    assert "records: nothing" in machine.output
    human = run("explain", "--event", "ace", "--amd", "human")
    assert "  ✓ callouts-on-answer: matched (origin=callout, amd=human)" in human.output
    assert "startRecording" in human.output
    undetected = run("explain", "--event", "ace")
    assert "  ✓ callouts-on-answer: matched (origin=callout, amd=none)" in undetected.output


def test_check_refuses_connecting_a_did_call_to_what_was_dialled(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.write_text("version: 1\nrules:\n  - id: inbound\n    when: {to.type: did}\n    connect: dialled\n"
                    "  - id: default\n    connect: dialled\n")
    result = run("check", str(loop))
    assert result.exit_code == 1
    assert "rules[0].connect: dialled on a call to your own Sinch number (to.type did)" in result.output


def test_explain_shows_a_did_call_told_there_is_no_route():
    result = run("explain", "--to", "+46812345678", "--to-type", "did", "--at", "2026-11-29T10:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert "problem: connect: dialled on a call to the application's own number +46812345678" in result.output
    assert '"name": "hangup"' in result.output and "connectPstn" not in result.output


def test_check_and_explain_say_what_is_sensitive(tmp_path):
    rules = tmp_path / "pci.yaml"
    rules.write_text("version: 1\nsensitive: {menus: [card, cvv]}\nrules:\n"
                     "  - {id: pay, when: {to: '+4612*'}, sensitive: {min_digits: 0, pause_recording: false}}\n"
                     "  - {id: default}\n")
    checked = run("check", str(rules))
    assert checked.exit_code == 0
    assert "sensitive input: menus card, cvv; maxDigits >= 12; digits redacted; recording paused" in checked.output
    assert "rule pay: menus card, cvv; no maxDigits guess; digits redacted; recording NOT paused" in checked.output
    explained = run("explain", "--to", "+4612345", env={"RULES_FILE": str(rules)})
    assert "rule: pay" in explained.output and "recording NOT paused" in explained.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsensitive: {menus: [''], min_digits: 99, pause: yes}\nrules:\n  - {id: default}\n")
    refused = run("check", str(bad))
    assert refused.exit_code == 1 and "sensitive.min_digits: must be 0 (no guess) to 64" in refused.output
    assert "sensitive.pause: Unknown field" in refused.output
