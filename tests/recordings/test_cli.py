import json

import pytest
import yaml

from app.simulator.audio import audio
from tests.recordings.test_lifecycle import Flow


@pytest.fixture
def cli_flow(make_app, store, queue, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(store.ruleset())
    app = make_app(RULES_FILE=str(rules))
    return Flow(app, store, queue)


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_list_and_verify(cli_flow):
    good, bad = cli_flow.call("cli-good"), cli_flow.call("cli-bad")
    cli_flow.store.upload(good, audio("mp3", 2))
    cli_flow.store.upload(bad, audio("wav", 2))
    for callid, uri in (("cli-good", good), ("cli-bad", bad)):
        cli_flow.notify(callid, "recording_available", uri)
    pending = invoke(cli_flow.app, "recordings", "verify", "--pending")
    assert pending.exit_code == 0 and "verifying 2 recording(s)" in pending.output
    assert "1 failed, 1 verified" in pending.output and "flask recordings list --status failed" in pending.output
    table = invoke(cli_flow.app, "recordings", "list", "--status", "failed")
    assert "wrong format: mp3 was requested but the file is wav" in table.output and "cli-bad" in table.output
    lines = invoke(cli_flow.app, "recordings", "list", "--json").output.splitlines()
    assert {json.loads(line)["status"] for line in lines} == {"verified", "failed"}
    good_id = cli_flow.one(call_id="cli-good").id
    again = invoke(cli_flow.app, "recordings", "verify", good_id)
    assert again.exit_code == 0 and again.output.strip() == f"{good_id}: verified"
    assert invoke(cli_flow.app, "recordings", "verify").exit_code == 2
    assert "no recording nope" in invoke(cli_flow.app, "recordings", "verify", "nope").output


@pytest.mark.parametrize("store", ["s3", "azure"], indirect=True)
def test_destination_preflight_passes(cli_flow):
    result = invoke(cli_flow.app, "destinations", "check", "store")
    assert result.exit_code == 0, result.output
    assert "✓ write with Sinch's credentials" in result.output and "✓ read back" in result.output
    assert "✓ delete the probe" in result.output and "OK: Sinch can record here" in result.output
    if cli_flow.store.scheme == "s3":
        assert "✓ least privilege" in result.output
    else:  # an Azure account key can do everything: worth saying
        assert "! least privilege: Sinch's credentials can also read" in result.output


@pytest.mark.parametrize("store", ["s3"], indirect=True)
@pytest.mark.parametrize("change, step, words", [
    (lambda d: d.update(sinch_credentials="sinch-write-only:wrong-secret:us-east-1"),
     "✗ write with Sinch's credentials", "secret key does not match"),
    (lambda d: d.update(url=d["url"].replace("s3://rec-", "s3://no-such-")),
     "✗ write with Sinch's credentials", "check that the bucket exists"),
    (lambda d: d["read"].update(secret_key="wrong"), "✗ read back with the service's credentials",
     "the service's read credentials"),
])
def test_destination_preflight_says_what_failed(cli_flow, tmp_path, change, step, words):
    rules = yaml.safe_load(cli_flow.store.ruleset())
    change(rules["destinations"]["store"])
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    assert cli_flow.app.extensions["rules"].reload()
    result = invoke(cli_flow.app, "destinations", "check", "store")
    assert result.exit_code == 1 and step in result.output and words in result.output
    assert "wrong-secret" not in result.output


def test_unknown_destination(make_app):
    result = invoke(make_app(), "destinations", "check", "nowhere")
    assert result.exit_code == 1 and "no destination 'nowhere'" in result.output
