"""gunicorn settings, all from the environment (Heroku-style), and metrics across workers.

PORT (default 8000), WEB_CONCURRENCY (worker processes, default 2), WEB_THREADS (threads per
worker, default 4), FORWARDED_ALLOW_IPS (proxies trusted for X-Forwarded-*, default
127.0.0.1; Heroku's router needs "*"), GUNICORN_TIMEOUT (default 30 s).
"""

import os
import shutil
import tempfile

from gunicorn import glogging

from app.logs import json_formatter

# Metrics across worker processes (prometheus-client multiprocess mode): one folder per master.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sinch-recorder-metrics-")

bind = f"{os.environ.get('GUNICORN_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"


class JsonLogger(glogging.Logger):
    """gunicorn's own lines in the app's format: one JSON object per line, ISO 8601 UTC times.

    An access line carries method, path, status, bytes, duration and the request id the app
    echoes in ``X-Request-Id``.
    """

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(json_formatter())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        self.access_log.info("request", extra={
            "method": atoms["m"], "path": atoms["U"], "status": resp.status_code,
            "bytes": getattr(resp, "sent", None), "duration_ms": atoms["M"], "remote": atoms["h"],
            "request_id": dict(resp.headers).get("X-Request-Id") or None,
        })


logger_class = JsonLogger


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)  # counts from an earlier run must not leak in
    os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
