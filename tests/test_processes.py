"""The real processes of a deployment: gunicorn serving callbacks, the huey worker, start-up."""

import json
import os
import subprocess
import sys

import requests

from app.sinch.signing import sign
from app.tasks import huey, ping
from tests import payloads
from tests.processes import BIN, ROOT, free_port, gunicorn, stop
from tests.support import APP_KEY, APP_SECRET


def test_gunicorn_serves_signed_callbacks_with_json_logs(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "SINCH_APPLICATION_KEY": APP_KEY,
           "SINCH_APPLICATION_SECRET": APP_SECRET, "WEB_CONCURRENCY": "1"}
    log_path = tmp_path / "gunicorn.log"
    with gunicorn("wsgi:app", env, log_path) as (base, _):
        body = json.dumps(payloads.ICE_APP_TO_PHONE).encode()
        headers = sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback", body=body)
        response = requests.post(f"{base}/sinch/callback", data=body,
                                 headers={**headers, "X-Request-Id": "proc-test-1"}, timeout=5)
        assert response.status_code == 200
        assert response.json() == {"action": {"name": "connectPstn", "number": "+46855500000"}}
        refused = requests.post(f"{base}/sinch/callback", data=body, headers={"Content-Type": "application/json"}, timeout=5)
        assert refused.status_code == 401
        assert requests.get(f"{base}/readyz", timeout=5).json()["status"] == "ok"
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]  # every line: one JSON object
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access"} <= loggers and any(name.startswith("app.") for name in loggers)
    assert all(line["time"].endswith("+00:00") and "T" in line["time"] for line in lines)
    access = [line for line in lines if line["logger"] == "gunicorn.access" and line["path"] == "/sinch/callback"]
    assert access[0]["request_id"] == "proc-test-1" and access[0]["status"] == 200
    refusal = next(line for line in lines if line.get("reason") == "missing_authorization")
    assert refusal["level"] == "WARNING" and refusal["request_id"]
    text = log_path.read_text()
    assert APP_SECRET not in text and headers["Authorization"].split(":")[-1] not in text


def test_worker_consumes_the_queue(tmp_path):
    result = ping()
    with open(tmp_path / "worker.log", "wb") as log:
        # -n: no periodic tasks, which the scheduler enqueues at each minute's turn and would be
        # left pending when the test happens to cross one (seen once in CI).
        worker = subprocess.Popen([str(BIN / "python"), "-m", "app.worker", "-w", "1", "-n"], cwd=ROOT,
                                  env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert result.get(blocking=True, timeout=30) == "pong"
    finally:
        stop(worker)
    assert huey.pending_count() == 0
    lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()]  # each one JSON
    messages = [line["message"] for line in lines if line["logger"].startswith("huey")]
    assert any("Huey consumer started" in message for message in messages)
    assert len(messages) == len(set(messages)), "a huey line was written twice"
    assert all(line["time"].endswith("+00:00") for line in lines)


def test_a_bad_setting_stops_the_start_naming_the_variable():
    completed = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, capture_output=True, text=True,
                               env={**os.environ, "SINCH_SIGNATURE_MAX_SKEW": "soon"}, timeout=60)
    assert completed.returncode == 1
    assert "SINCH_SIGNATURE_MAX_SKEW" in completed.stderr and "Traceback" not in completed.stderr


def gunicorn_that_cannot_start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """gunicorn run to its end (it is expected to stop by itself), on a loopback port."""
    return subprocess.run([str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PORT": str(free_port()), "GUNICORN_HOST": "127.0.0.1",
                               "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", **env})


def test_under_gunicorn_a_bad_setting_stops_the_master_before_any_worker_starts(tmp_path):
    """gunicorn itself accepts WEB_THREADS=2000; the app does not (at most 1 024). The config
    file runs the app's check in the master, which exits naming the setting: no worker starts,
    so none is restarted for ever, and there is no traceback."""
    completed = gunicorn_that_cannot_start(tmp_path, WEB_THREADS="2000")
    assert completed.returncode == 1, completed.stderr
    assert completed.stderr.strip().splitlines() == [
        "sinch-recorder cannot start: invalid settings: WEB_THREADS: Must be greater than or equal to 1 and less "
        "than or equal to 1024."]


def test_under_gunicorn_a_worker_that_cannot_start_stops_the_master(tmp_path):
    """What only the app can find (here a rules file it refuses) stops the worker with gunicorn's
    "worker failed to boot" (3), and the master with it, instead of restarting it for ever."""
    (tmp_path / "rules.yaml").write_text("version: 99\nrules: []\n")
    completed = gunicorn_that_cannot_start(tmp_path, WEB_CONCURRENCY="1", RULES_FILE=str(tmp_path / "rules.yaml"),
                                           INSTANCE_PATH=str(tmp_path / "instance"))
    output = completed.stdout + completed.stderr
    assert completed.returncode == 3, output
    assert "sinch-recorder cannot start" in output and "rules.yaml" in output
    assert "Worker failed to boot" in output and "Booting worker" in output


def test_release_phase_migrates_a_fresh_database(databases):
    url = databases.new("release")
    completed = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                               capture_output=True, text=True, env={**os.environ, "DATABASE_URL": url}, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "Running upgrade  -> 0001" in completed.stderr


def test_two_workers_sweep_once_per_minute(database_url, tmp_path):
    """Each consumer's scheduler queues the minute's sweep; with two workers it is queued twice
    (here by hand, the schedulers off with -n, so no minute boundary is waited for) and must run
    once per minute across both."""
    from contextlib import ExitStack

    from app.recordings.tasks import sweep_recordings
    from tests.processes import eventually, huey_worker

    env = {"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path / "instance")}
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    with ExitStack() as stack:
        for log in logs:
            stack.enter_context(huey_worker(env, log, 1, "-n"))
        sweep_recordings()
        sweep_recordings()
        lines = eventually(lambda: _sweep_lines(logs, 2), "the two queued sweeps to be taken", deadline=60)
    ran = {}
    for line in lines:
        ran.setdefault(line["slot"], []).append(line["message"])
    assert len(lines) == 2 and all(messages.count("sweep ran") == 1 for messages in ran.values()), ran


def _sweep_lines(logs, expected: int):
    lines = [json.loads(text) for log in logs if log.exists() for text in log.read_text().splitlines()
             if '"sweep ' in text]
    return lines if len(lines) >= expected else None
