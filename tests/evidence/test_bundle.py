"""Evidence bundles and the audit (issue 28): a verified recording's bundle verifies with both
verifiers (``flask evidence verify`` and the standalone ``tools/verify_evidence.py``); each
tamper fails in both and is named; the audit names an edited, deleted or inserted event, an
edited catalogue row, node or tree head."""

from __future__ import annotations

import ast
import base64
import copy
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import insert, update

from app.db import db
from app.events.models import Event
from app.evidence.models import EvidenceNode, TreeHead
from app.recordings.models import Recording
from tests.evidence.test_log import AUTH, KEY, PUBLIC, TOKEN
from tests.processes import BIN, ROOT
from tests.support import Flow, Store

TOOL = ROOT / "tools" / "verify_evidence.py"
PUBLIC_B64 = base64.b64encode(PUBLIC).decode()
OTHER_KEY = base64.b64encode(bytes(32)).decode()  # the public key of another private key (32 zero bytes)


@pytest.fixture
def flow(make_app, tmp_path, s3_server, queue):
    store = Store("s3", s3_server, f"evi-{uuid.uuid4().hex[:12]}")
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), API_TOKENS=TOKEN, EVIDENCE_SIGNING_KEY=KEY)
    return Flow(app, store, queue)


def signed(flow) -> None:
    """What the worker does each minute, now: number, append, sign (a head is due: none is kept yet
    or the test signs past the interval with flask evidence sign)."""
    flow.app.test_client().get("/api/v1/events", headers=AUTH)  # the feed numbers what is committed
    result = flow.app.test_cli_runner().invoke(args=["evidence", "sign"])
    assert result.exit_code == 0, result.output


def exported(flow, recording_id: str, path) -> dict:
    result = flow.app.test_cli_runner().invoke(args=["recordings", "evidence", recording_id, "-o", str(path)])
    assert result.exit_code == 0, result.output
    return json.loads(path.read_text())


def both_verifiers(flow, path, key: str = PUBLIC_B64) -> list[tuple[int, str]]:
    """(exit code, output) of flask evidence verify and of the standalone tool."""
    ours = flow.app.test_cli_runner().invoke(args=["evidence", "verify", str(path), "--key", key])
    tool = subprocess.run([sys.executable, str(TOOL), str(path), "--key", key], capture_output=True, text=True)
    return [(ours.exit_code, ours.output), (tool.returncode, tool.stdout + tool.stderr)]


def test_a_verified_recording_s_bundle_verifies_with_both_verifiers(flow, tmp_path):
    row = flow.verified("evi-1")
    signed(flow)
    bundle = exported(flow, row.id, tmp_path / "bundle.json")
    assert bundle["format"] == "sinch-recorder-evidence/1" and bundle["public_key"] == PUBLIC_B64
    claimed = bundle["recording"]
    assert (claimed["id"], claimed["sha256"], claimed["size_bytes"], claimed["status"]) == \
        (row.id, row.sha256, row.size_bytes, "verified")
    assert claimed["rule_id"] == "record-all" and len(claimed["ruleset_hash"]) == 16 and claimed["consent"] is None
    types = [json.loads(base64.b64decode(e["entry"]))["type"] for e in bundle["entries"]]
    assert types == ["recording.requested", "recording.available", "recording.verified"]
    for code, output in both_verifiers(flow, tmp_path / "bundle.json"):
        assert code == 0 and "VERIFIED" in output and f"sha256: {row.sha256}" in output, output
    api = flow.app.test_client().get(f"/api/v1/recordings/{row.id}/evidence", headers=AUTH)
    assert api.status_code == 200 and api.json == bundle


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


TAMPERS = {
    "a byte of an entry": (lambda b: b["entries"][1].update(entry=_flip(b["entries"][1]["entry"])),
                           "inclusion path"),
    "a proof hash": (lambda b: b["entries"][0]["inclusion_path"].__setitem__(
        0, _flip(b["entries"][0]["inclusion_path"][0])), "inclusion path"),
    "the signature": (lambda b: b["sth"].update(signature=_flip(b["sth"]["signature"])), "signature"),
    "the tree size": (lambda b: b["sth"].update(tree_size=b["sth"]["tree_size"] + 1), "signature"),
    "the root hash": (lambda b: b["sth"].update(root_hash=_flip(b["sth"]["root_hash"])), "signature"),
    "the claimed SHA-256": (lambda b: b["recording"].update(sha256="0" * 64), "sha256: the recording claims"),
    "the claimed status": (lambda b: b["recording"].update(status="failed"), "status: the recording claims"),
    "an entry dropped": (lambda b: b["entries"].pop(), "status: the recording claims"),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_each_tamper_fails_in_both_verifiers_and_is_named(flow, tmp_path, tamper):
    row = flow.verified(f"evi-t-{uuid.uuid4().hex[:6]}")
    flow.verified(f"evi-u-{uuid.uuid4().hex[:6]}")  # more leaves, so paths are long enough to tamper with
    signed(flow)
    bundle = exported(flow, row.id, tmp_path / "bundle.json")
    change, named = TAMPERS[tamper]
    bad = copy.deepcopy(bundle)
    change(bad)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    for code, output in both_verifiers(flow, tmp_path / "bad.json"):
        assert code == 1 and "NOT VERIFIED" in output and named in output, output


def test_another_key_fails_in_both_verifiers_and_without_a_key_the_bundle_s_own_is_used_with_a_warning(flow, tmp_path):
    row = flow.verified("evi-k")
    signed(flow)
    exported(flow, row.id, tmp_path / "bundle.json")
    for code, output in both_verifiers(flow, tmp_path / "bundle.json", key=OTHER_KEY):
        assert code == 1 and ("not of the given key's" in output or "not of this key's" in output), output
    tool = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "bundle.json")], capture_output=True, text=True)
    assert tool.returncode == 0 and "warning: checked against the bundle's own public key" in tool.stderr


def test_the_standalone_verifier_needs_only_the_standard_library_and_cryptography():
    imported = set()
    for node in ast.walk(ast.parse(TOOL.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_a_bundle_waits_for_a_head_over_the_recording_s_latest_event(flow):
    client = flow.app.test_client()
    row = flow.verified("evi-w1")
    answer = client.get(f"/api/v1/recordings/{row.id}/evidence", headers=AUTH)
    assert answer.status_code == 409 and "no signed tree head yet" in answer.json["error"]["message"]
    signed(flow)
    assert client.get(f"/api/v1/recordings/{row.id}/evidence", headers=AUTH).status_code == 200
    assert client.get("/api/v1/recordings/nope/evidence", headers=AUTH).status_code == 404


def audited(flow) -> tuple[int, str]:
    result = flow.app.test_cli_runner().invoke(args=["evidence", "audit"])
    return result.exit_code, result.output


def _execute(flow, statement) -> None:
    with flow.app.app_context():
        db.session.execute(statement)
        db.session.commit()


@pytest.mark.parametrize("tamper", ["catalogue status", "catalogue sha256", "event edited", "event deleted",
                                    "event inserted", "node edited", "head edited"])
def test_the_audit_finds_and_names_each_change_behind_the_log_s_back(flow, tamper):
    first, second = flow.verified("evi-a1"), flow.verified("evi-a2")
    signed(flow)
    code, output = audited(flow)
    assert code == 0 and "the log and the catalogue agree" in output
    assert "6 leaves, 1 tree heads, 2 recordings" in output
    with flow.app.app_context():
        events = list(db.session.scalars(db.select(Event).order_by(Event.seq)))
    named = {
        "catalogue status": (update(Recording).where(Recording.id == first.id).values(status="failed"),
                             f"recording {first.id}: its status is 'failed' in the catalogue"),
        "catalogue sha256": (update(Recording).where(Recording.id == second.id).values(sha256="f" * 64),
                             f"recording {second.id}: its sha256"),
        "event edited": (update(Event).where(Event.id == events[2].id).values(data={**events[2].data, "sha256": "0"}),
                         f"event {events[2].id} (leaf 2) was changed in the event log"),
        "event deleted": (Event.__table__.delete().where(Event.id == events[1].id),
                          f"event {events[1].id} (leaf 1) was deleted from the event log"),
        "event inserted": (insert(Event).values(id="evt_forged", seq=0,
                                                type="recording.verified", recording_id=first.id, call_id="evi-a1",
                                                created_at=events[0].created_at, data=events[2].data),
                           "event evt_forged (seq 0) is in the event log but not in the transparency log"),
        "node edited": (update(EvidenceNode).where(EvidenceNode.id == 1).values(hash=bytes(32)),
                        "the stored hash of node 1 differs"),
        "head edited": (update(TreeHead).values(timestamp=1),
                        "the signature of the tree head of size 6 does not verify"),
    }
    statement, expected = named[tamper]
    _execute(flow, statement)
    code, output = audited(flow)
    assert code == 1 and expected in output, output


def test_the_readme_s_commands_prove_a_recording_as_printed(flow, tmp_path, database_url):
    """The README's keygen, export and verify lines, run by a shell as printed (the recording's id
    and the public key put in their places), in a folder holding only what a user's checkout has."""
    section = (ROOT / "README.md").read_text().split("## Prove a recording to someone else")[1].split("\n## ")[0]
    keygen, export, check = [line.split("  #")[0].strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)
                             for line in block.strip().splitlines()]
    for name in ("wsgi.py", "tools"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DATABASE_URL": database_url,
           "RULES_FILE": flow.app.extensions["settings"].rules_file, "INSTANCE_PATH": str(tmp_path / "instance")}

    def shell(line: str, **more) -> str:
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env={**env, **more}, capture_output=True, text=True)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        return done.stdout

    printed = shell(keygen)
    key = re.search(r"^EVIDENCE_SIGNING_KEY=(\S+)$", printed, re.M).group(1)
    public = re.search(r"^public key: (\S+)$", printed, re.M).group(1)
    row = flow.verified("evi-readme")
    shell("flask --app wsgi evidence sign", EVIDENCE_SIGNING_KEY=key)
    shell(export.replace("5f0c2a…e41", row.id), EVIDENCE_SIGNING_KEY=key)
    assert "VERIFIED" in shell(check.replace("<the public key>", public))


def test_a_bundle_outlives_the_event_log_s_retention(flow, tmp_path):
    """Recordings are kept for years (MiFID II: five to seven), the feed's events maybe weeks
    (EVENTS_RETAIN_DAYS): the log keeps each leaf's bytes and what it concerns, so a recording
    whose events were pruned is still proven."""
    row = flow.verified("evi-old")
    signed(flow)
    _execute(flow, Event.__table__.delete().where(Event.recording_id == row.id))  # as the retention prunes them
    bundle = exported(flow, row.id, tmp_path / "bundle.json")
    assert len(bundle["entries"]) == 3 and bundle["recording"]["status"] == "verified"
    for code, output in both_verifiers(flow, tmp_path / "bundle.json"):
        assert code == 0 and "VERIFIED" in output, output


MALFORMED = {
    "not an object": lambda b: [],
    "no sth": lambda b: {k: v for k, v in b.items() if k != "sth"},
    "entries not a list": lambda b: {**b, "entries": 7},
    "an entry not an object": lambda b: {**b, "entries": ["x"]},
    "a leaf index of text": lambda b: {**b, "entries": [{**b["entries"][0], "leaf_index": "0"}]},
    "a negative leaf index": lambda b: {**b, "entries": [{**b["entries"][0], "leaf_index": -1}]},
    "an entry that is not JSON": lambda b: {**b, "entries": [{**b["entries"][0], "entry": "bm90IGpzb24="}]},
    "a public key of 31 bytes": lambda b: {**b, "public_key": base64.b64encode(bytes(31)).decode()},
    "a tree size of text": lambda b: {**b, "sth": {**b["sth"], "tree_size": "6"}},
}


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_a_malformed_bundle_is_refused_by_both_verifiers_with_no_traceback(flow, tmp_path, shape):
    row = flow.verified(f"evi-m-{uuid.uuid4().hex[:6]}")
    signed(flow)
    bundle = exported(flow, row.id, tmp_path / "bundle.json")
    (tmp_path / "bad.json").write_text(json.dumps(MALFORMED[shape](bundle)))
    ours = flow.app.test_cli_runner().invoke(args=["evidence", "verify", str(tmp_path / "bad.json")])
    tool = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "bad.json")], capture_output=True, text=True)
    for code, output in [(ours.exit_code, ours.output), (tool.returncode, tool.stdout + tool.stderr)]:
        assert code == 1 and "NOT VERIFIED" in output and "Traceback" not in output, output
    assert ours.exception is None or isinstance(ours.exception, SystemExit)
