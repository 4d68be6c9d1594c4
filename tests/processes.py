"""Starting the project's own processes (gunicorn, the huey worker) for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def copy_tracked_files(destination: Path) -> Path:
    """A copy of the repository's tracked files, as a fresh clone (or a Heroku slug) has them."""
    import shutil

    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).exists():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(url: str, process: subprocess.Popen, deadline: float = 30.0) -> None:
    """Poll a real request until the server answers (or fail with its output)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # not listening yet, or still booting (slow under load)
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {deadline}s")


def eventually(condition, what: str, deadline: float = 20.0):
    """Wait for something another process does; fail with ``what`` if it never happens."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextmanager
def huey_worker(env: dict, log_path: Path, workers: int = 2, *options: str):
    """The task consumer, as the Procfile's worker runs it (``options``: more consumer options)."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(BIN / "python"), "-m", "app.worker", "-w", str(workers), "-k", "thread",
                                    *options],
                                   cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process
    finally:
        stop(process)


@contextmanager
def gunicorn(app: str, env: dict, log_path: Path, **settings: str):
    """``gunicorn -c config/gunicorn.conf.py APP`` on a free loopback port; yields the base URL."""
    port = free_port()
    full_env = {**os.environ, **env, "PORT": str(port), "GUNICORN_HOST": "127.0.0.1", **settings}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "config" / "gunicorn.conf.py"), app],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        stop(process)


class Served:
    """A WSGI app on a loopback port, in a thread (an upstream, a platform endpoint)."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.thread.join(10)
