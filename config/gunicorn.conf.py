"""gunicorn settings, all from the environment (Heroku-style), and metrics across workers.

PORT, WEB_CONCURRENCY (worker processes), WEB_THREADS (threads per worker),
FORWARDED_ALLOW_IPS (proxies trusted for X-Forwarded-*; Heroku's router needs "*"),
GUNICORN_TIMEOUT, GUNICORN_HOST and GUNICORN_ACCESS_LOG: declared, with their defaults, in
``app/settings.py`` like every other setting.
"""

import os
import shutil
import sys
import tempfile

# Metrics across worker processes (prometheus-client multiprocess mode): one folder per master.
# Set before anything imports prometheus_client, which reads it once.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sinch-recorder-metrics-")

import json  # noqa: E402

from gunicorn import glogging, util  # noqa: E402
from werkzeug.http import HTTP_STATUS_CODES  # noqa: E402

from app.logs import json_formatter  # noqa: E402
from app.settings import SettingsError, default, load_settings  # noqa: E402

# The app's own check of every setting, here in the master: a bad value stops gunicorn with one
# line naming it before any worker starts. (Left to the workers, each would refuse at once, and
# gunicorn, halting on the first, meets the second's refusal mid-halt and ends in a traceback.)
try:
    load_settings(os.environ)
except SettingsError as error:
    sys.exit(f"sinch-recorder cannot start: {error}")


def _env(name: str) -> str:
    return os.environ.get(name, default(name))


bind = f"{_env('GUNICORN_HOST')}:{_env('PORT')}"
workers = int(_env("WEB_CONCURRENCY"))
threads = int(_env("WEB_THREADS"))
worker_class = "gthread"
timeout = int(_env("GUNICORN_TIMEOUT"))
graceful_timeout = 20
keepalive = 5
# The longest request line gunicorn allows; the app refuses URLs over 4 094 bytes itself (app/web.py),
# and lines past this get gunicorn's own 414 — in the same JSON shape (below).
limit_request_line = 8190
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS")
accesslog = _env("GUNICORN_ACCESS_LOG")
errorlog = "-"
# gunicorn ≥ 25 opens a control socket at one fixed path per user ($HOME/.gunicorn/gunicorn.ctl):
# two web processes on one machine (tests, a drill, a laptop running two checkouts) would take it
# from each other. Nothing here uses gunicornc; signals (HUP, TERM) do the same.
control_socket_disable = True


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


def worker_exit(server, worker):
    """A worker that stops (SIGTERM on a deploy or a dyno's daily restart: Heroku gives 30 s)
    hands its spool to the database, or to Redis when the database is still down, so what it
    spooled does not stay on a disk that is about to be thrown away."""
    app = getattr(worker, "wsgi", None)
    runtime = app.extensions.get("sinch_recorder") if app is not None else None
    if runtime is None:
        return
    try:
        with app.app_context():
            moved = runtime.spool.hand_off()
        if moved:
            server.log.info(f"handed {moved} spooled callback(s) on before exiting")
    except Exception as error:  # nothing more can be done on the way out; the file stays
        server.log.error(f"could not hand the spool on ({type(error).__name__}); it stays in the instance folder")


def _json_error(sock, status_int, reason, mesg):
    """gunicorn's own refusals (a request line or headers it cannot take: 400, 414, 431 …) in the
    service's error shape, ``{"error": {"code", "message"}}``, instead of its HTML page: every
    answer the API's document lists is JSON. gunicorn calls ``util.write_error`` for them alone;
    its workers are forked from this process, so they write with this."""
    code = HTTP_STATUS_CODES.get(status_int, reason).lower().replace(" ", "_")
    body = json.dumps({"error": {"code": code, "message": mesg or reason}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin1") + body)


util.write_error = _json_error
