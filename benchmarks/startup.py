"""Benchmark: how soon a web process answers ``/readyz`` with a large ruleset, as the Procfile starts it.

    .venv/bin/python -m benchmarks.startup [--rules 100000] [--workers 2] [--rounds 3]

Each round starts ``gunicorn -c config/gunicorn.conf.py wsgi:app`` (WEB_CONCURRENCY workers, a
migrated SQLite database) and measures, from the moment it is spawned, until:

- ``/readyz`` first answers 200 naming the ruleset's hash (a worker is ready), and
- every worker has loaded the ruleset (its "rules loaded" line);

with an empty instance folder (``cold``: the first worker compiles, the others read its copy)
and again with the same folder (``warm``: a restart, every worker reads the copy); and, as the
baseline in the same run, the same with a 10-rule ruleset.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from app.rules.schema import parse_ruleset
from benchmarks.callbacks import KEY, SECRET, migrate
from benchmarks.rules import ENVIRON, ruleset_yaml
from tests.processes import BIN, ROOT, free_port, stop

LOADED = ("rules loaded", "rules compiled; keeping them for the other processes",
          "rules read as compiled by another process")


def start_and_wait(env: dict, log_path: Path, workers: int, digest: str) -> tuple[float, float]:
    """Seconds from spawn to the first ready /readyz, and to every worker having loaded."""
    port = free_port()
    env = {**os.environ, **env, "PORT": str(port), "GUNICORN_HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers)}
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(BIN / "gunicorn"), "-c", str(ROOT / "config" / "gunicorn.conf.py"), "wsgi:app"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ready = loaded = None
    try:
        while loaded is None or ready is None:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn stopped; see {log_path}")
            if ready is None:
                try:
                    answer = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                    if answer.status_code == 200 and answer.json()["rules"]["hash"] == digest:
                        ready = time.perf_counter() - started
                except requests.RequestException:
                    pass
            if loaded is None and loads(log_path)[LOADED[0]] >= workers:
                loaded = time.perf_counter() - started
            time.sleep(0.02)  # polling a process from outside: a benchmark, not a test
        return ready, loaded
    finally:
        stop(process)


def loads(log_path: Path) -> dict[str, int]:
    counts = dict.fromkeys(LOADED, 0)
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            message = json.loads(line).get("message")
        except ValueError:
            continue
        if message in counts:
            counts[message] += 1
    return counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    url = f"sqlite:///{work / 'bench.db'}"
    migrate(url)
    print(f"{'rules':>8} {'instance':>8} {'ready s':>8} {'all loaded s':>13} {'compiled':>9} {'read':>5}")
    for size in (10, args.rules):
        rules = work / f"rules-{size}.yaml"
        rules.write_text(ruleset_yaml(size, random.Random(7))[0])
        digest = parse_ruleset(rules.read_text(), ENVIRON).hash
        for round_ in range(args.rounds):
            instance = work / f"instance-{size}-{round_}"
            for state in ("cold", "warm"):
                env = {"DATABASE_URL": url, "SINCH_APPLICATION_KEY": KEY, "SINCH_APPLICATION_SECRET": SECRET,
                       "HUEY_SQLITE_PATH": str(work / "huey.db"), "LOG_LEVEL": "INFO",
                       "GUNICORN_ACCESS_LOG": "/dev/null", "RULES_FILE": str(rules), "INSTANCE_PATH": str(instance),
                       **ENVIRON}
                log_path = work / f"{size}-{round_}-{state}.log"
                ready, loaded = start_and_wait(env, log_path, args.workers, digest)
                counts = loads(log_path)
                print(f"{size:>8} {state:>8} {ready:8.2f} {loaded:13.2f} {counts[LOADED[1]]:>9} {counts[LOADED[2]]:>5}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
