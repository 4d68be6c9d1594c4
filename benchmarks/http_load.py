"""A small closed-loop HTTP load generator and server-CPU meter shared by the benchmarks."""

from __future__ import annotations

import http.client
import os
import statistics
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as handle:
                queue.extend(int(child) for child in handle.read().split())
        except FileNotFoundError:
            pass
    return pids


def _stat(pid: int | str) -> tuple[str, int, int]:
    """A process's command name and its (user, system) clock ticks, from ``/proc/<pid>/stat``
    (zero ticks when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            name, fields = handle.read().split(" (", 1)[1].rsplit(")", 1)
    except (FileNotFoundError, ProcessLookupError):
        return "", 0, 0
    values = fields.split()
    return name, int(values[11]), int(values[12])


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and its children (gunicorn master and workers)."""
    ticks = [_stat(member)[1:] for member in process_tree(pid)]
    return sum(user for user, _ in ticks) / CLOCK_TICKS, sum(system for _, system in ticks) / CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine (the database's share of a run)."""
    stats = (_stat(entry) for entry in os.listdir("/proc") if entry.isdigit())
    return sum(user + system for name, user, system in stats if name == "postgres") / CLOCK_TICKS


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    server_user: float
    server_system: float
    database: float = 0.0  # CPU seconds of PostgreSQL's processes during the run (0 on SQLite)

    @property
    def server_cpu(self) -> float:
        return self.server_user + self.server_system

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1] * 1000

    @property
    def cpu_per_request_us(self) -> float:
        return self.server_cpu / self.requests * 1e6

    @property
    def database_per_request_us(self) -> float:
        return self.database / self.requests * 1e6


def run(base_url: str, requests_: list[tuple[str, bytes, dict]], concurrency: int, server_pid: int) -> Result:
    """Send every prepared (path, body, headers) once over keep-alive connections."""
    parts = urlsplit(base_url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    index = [0]

    def worker():
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine = []
        while True:
            with lock:
                if index[0] >= len(requests_):
                    break
                path, body, headers = requests_[index[0]]
                index[0] += 1
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    database_before = postgres_cpu_seconds()
    (user_before, system_before), started = cpu_seconds(server_pid), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    user, system = cpu_seconds(server_pid)
    return Result(len(requests_), errors[0], seconds, latencies, user - user_before, system - system_before,
                  postgres_cpu_seconds() - database_before)
