"""Reloading rules in a running gunicorn: SIGHUP to a worker, and gunicorn's own HUP."""

import json
import os
import shutil
import signal

import requests

from app.sinch.signing import sign
from benchmarks.http_load import process_tree
from tests.processes import ROOT, eventually, gunicorn
from tests.support import APP_KEY, APP_SECRET

BLOCKING = ("version: 1\nrules:\n  - id: blocked\n    when: {cli: '+1900*'}\n    connect: hangup\n"
            "  - id: default\n")
BROKEN = "version: 1\nrules:\n  - id: only\n    when: {cli: '+1900*'}\n"


def answer(base: str, callid: str) -> dict:
    body = json.dumps({"event": "ice", "callid": callid, "cli": "+19005551234",
                       "to": {"type": "number", "endpoint": "+46855512345"}, "domain": "pstn"}).encode()
    headers = sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback", body=body)
    return requests.post(f"{base}/sinch/callback", data=body, headers=headers, timeout=5).json()


def test_sighup_reloads_and_a_broken_file_keeps_the_old_rules(database_url, tmp_path):
    rules_file = tmp_path / "rules.yaml"
    shutil.copy(ROOT / "tests" / "rules" / "minimal.yaml", rules_file)
    env = {"DATABASE_URL": database_url, "SINCH_APPLICATION_KEY": APP_KEY, "SINCH_APPLICATION_SECRET": APP_SECRET,
           "RULES_FILE": str(rules_file), "INSTANCE_PATH": str(tmp_path / "instance"), "WEB_CONCURRENCY": "1"}
    log = tmp_path / "gunicorn.log"
    with gunicorn("wsgi:app", env, log) as (base, master):
        worker = process_tree(master.pid)[1]
        assert answer(base, "h1")["action"]["name"] == "connectPstn"

        rules_file.write_text(BROKEN)
        os.kill(worker, signal.SIGHUP)
        eventually(lambda: "rules reload refused" in log.read_text(), "the refusal in the log")
        assert answer(base, "h2")["action"]["name"] == "connectPstn"  # still the old rules
        assert process_tree(master.pid)[1] == worker                   # and the worker lived on

        rules_file.write_text(BLOCKING)
        os.kill(worker, signal.SIGHUP)
        eventually(lambda: answer(base, "h3") == {"action": {"name": "hangup"}}, "the new rules to answer")

        rules_file.write_text(BROKEN)
        os.kill(master.pid, signal.SIGHUP)  # gunicorn restarts its workers, which read the file afresh
        eventually(lambda: len(process_tree(master.pid)) > 1 and process_tree(master.pid)[1] != worker,
                   "a new worker")
        eventually(lambda: "serving the last good ruleset" in log.read_text(), "the last good ruleset")
        assert eventually(lambda: answer(base, "h4"), "the new worker to answer") == {"action": {"name": "hangup"}}
