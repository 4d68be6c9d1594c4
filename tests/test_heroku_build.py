"""The app builds and runs as Heroku's Python buildpack builds it: ``requirements.txt`` alone.

The buildpack installs ``requirements.txt`` into a fresh environment and runs the Procfile's
lines with bash from the slug (the repository's tracked files); the project itself is not
installed. This test does the same on loopback: release, then web and worker.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.processes import ROOT, copy_tracked_files, eventually, free_port, stop

pytestmark = pytest.mark.embedded  # its own SQLite, not the run's database: once per CI run


@pytest.fixture(scope="module")
def slug(tmp_path_factory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("heroku")
    venv = base / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(ROOT / "requirements.txt")],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run([str(venv / "bin" / "pip"), "check"], capture_output=True, text=True)
    assert check.returncode == 0, f"requirements.txt is not a complete lock: {check.stdout}"
    app_dir = copy_tracked_files(base / "app")
    state = base / "state"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(base), "LANG": "C.UTF-8",
           "DATABASE_URL": f"sqlite:///{state / 'db.sqlite'}", "HUEY_SQLITE_PATH": str(state / "huey.db"),
           "INSTANCE_PATH": str(state / "instance"), "HUEY_NAME": "heroku-build-test"}
    return app_dir, env


def procfile(app_dir: Path) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (app_dir / "Procfile").read_text().splitlines() if line.strip())


def run_process(app_dir: Path, env: dict, kind: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(["bash", "-c", procfile(app_dir)[kind]], cwd=app_dir, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def test_release_web_and_worker_run_from_the_lock_alone(slug, tmp_path):
    app_dir, env = slug
    release = subprocess.run(["bash", "-c", procfile(app_dir)["release"]], cwd=app_dir, env=env,
                             capture_output=True, text=True, timeout=120)
    assert release.returncode == 0, release.stdout + release.stderr
    port = free_port()
    web = run_process(app_dir, {**env, "PORT": str(port), "WEB_CONCURRENCY": "1"}, "web", tmp_path / "web.log")
    worker = run_process(app_dir, env, "worker", tmp_path / "worker.log")
    try:
        def ready():
            assert web.poll() is None, (tmp_path / "web.log").read_text()[-3000:]
            try:
                return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            except requests.RequestException:
                return None
        assert eventually(ready, "the web process to answer", deadline=60).status_code == 200
        ping = subprocess.run([str(Path(env["PATH"].split(":")[0]) / "python"), "-c",
                               "from app import create_app; from app.tasks import ping; create_app(); print(ping()(blocking=True, timeout=60))"],
                              cwd=app_dir, env=env, capture_output=True, text=True, timeout=90)
        assert ping.stdout.strip().endswith("pong"), ping.stdout + ping.stderr + (tmp_path / "worker.log").read_text()
        commands = subprocess.run(["bash", "-c", "flask --app wsgi --help"], cwd=app_dir, env=env,
                                  capture_output=True, text=True, timeout=60)
        for group in ("db", "rules", "recordings", "destinations", "journal", "sinch"):
            assert f"\n  {group} " in commands.stdout, commands.stdout + commands.stderr
    finally:
        stop(web)
        stop(worker)
