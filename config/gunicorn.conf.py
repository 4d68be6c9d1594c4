"""gunicorn settings, all from the environment (Heroku-style), and metrics across workers.

PORT (default 8000), WEB_CONCURRENCY (worker processes, default 2), WEB_THREADS (threads per
worker, default 4), FORWARDED_ALLOW_IPS (proxies trusted for X-Forwarded-*, default
127.0.0.1; Heroku's router needs "*"), GUNICORN_TIMEOUT (default 30 s).
"""

import os
import shutil
import tempfile

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
# One JSON object per request; the request id is the one the app echoes in X-Request-Id.
access_log_format = (
    '{"time":"%(t)s","logger":"access","method":"%(m)s","path":"%(U)s","status":%(s)s,'
    '"bytes":%(B)s,"duration_ms":%(M)s,"remote":"%(h)s","request_id":"%({x-request-id}o)s"}'
)


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)  # counts from an earlier run must not leak in
    os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
