import json

import pytest
import yaml

from app.simulator.audio import audio
from tests.support import Flow


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


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_show_download_and_delete(cli_flow, tmp_path):
    import hashlib

    data = audio("mp3", 2)
    row = cli_flow.verified("cli-dl", data)
    shown = json.loads(invoke(cli_flow.app, "recordings", "show", row.id).output)
    assert shown["sha256"] == hashlib.sha256(data).hexdigest() and shown["status"] == "verified"
    target = tmp_path / "out.mp3"
    fetched = invoke(cli_flow.app, "recordings", "download", row.id, "-o", str(target))
    assert fetched.exit_code == 0, fetched.output
    assert target.read_bytes() == data and "matches the catalogue" in fetched.output
    cli_flow.store.upload(row.destination_url, b"tampered")
    refused = invoke(cli_flow.app, "recordings", "download", row.id, "-o", str(tmp_path / "bad.mp3"))
    assert refused.exit_code == 1 and "it changed in the store" in refused.output
    assert not (tmp_path / "bad.mp3").exists() and not (tmp_path / "bad.mp3.part").exists()
    gone = invoke(cli_flow.app, "recordings", "delete", row.id, "--reason", "customer asked")
    assert gone.exit_code == 0 and '"reason": "customer asked"' in gone.output
    assert cli_flow.one(call_id="cli-dl").status == "deleted"
    assert "no recording nope" in invoke(cli_flow.app, "recordings", "show", "nope").output
    deleted = invoke(cli_flow.app, "recordings", "download", row.id)  # deleted: not verified
    assert deleted.exit_code == 1 and f"try 'flask recordings verify {row.id}'" in deleted.output


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_copy_to_a_profile_with_progress(make_app, store, queue, tmp_path, gcs_server):
    from tests.support import Store, ruleset_with_archive

    archive = Store("gs", gcs_server, f"cli-{store.name}")
    rules = tmp_path / "rules.yaml"
    rules.write_text(ruleset_with_archive(store, archive))
    flow = Flow(make_app(RULES_FILE=str(rules)), store, queue)
    row = flow.verified("cli-cp", audio("mp3", 2))
    copied = invoke(flow.app, "recordings", "copy", row.id, "--destination", "archive", "--key", "exports/")
    assert copied.exit_code == 0, copied.output
    assert "copying to gs://" in copied.output and "copied (streamed) and verified" in copied.output
    [copy] = [r for r in flow.recordings(call_id="cli-cp") if r.copied_from == row.id]
    assert copy.sha256 == row.sha256 and copy.destination_url.endswith("/exports/cli-cp-1.mp3")
    again = invoke(flow.app, "recordings", "copy", row.id, "--destination", "archive", "--key", "exports/")
    assert again.exit_code == 1 and "already catalogued" in again.output
    unknown = invoke(flow.app, "recordings", "copy", row.id, "--destination", "nowhere")
    assert unknown.exit_code == 1 and "no destination profile 'nowhere'" in unknown.output
