"""One log format for every process: a JSON object per line on stderr, each carrying the
request id and the call id when there is one, times in ISO 8601 UTC.

The web process's own gunicorn lines use the same formatter (``config/gunicorn.conf.py``), and
so does the worker (``app.worker``, which leaves huey's plain handler out). ``flask`` commands
print only their output: their logs show from ERROR up, or from INFO with ``-v``.
"""

from __future__ import annotations

import logging
import sys

import click
from flask import g, has_app_context
from pythonjsonlogger.json import JsonFormatter


class RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_app_context() and "request_id" in g:  # a request's (the callback route's has no request context)
            record.request_id = g.request_id
            record.call_id = g.get("call_id")
        return True


def json_formatter() -> JsonFormatter:
    return JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})


def running_a_command() -> bool:
    """Is this app built by the ``flask`` command (not by gunicorn, the worker or a test)?"""
    return click.get_current_context(silent=True) is not None


def init_app(app) -> None:
    """JSON logs at ``LOG_LEVEL``; a ``flask`` command's at ERROR (``-v`` turns them up)."""
    configure_logging(COMMAND_LEVEL if running_a_command() else app.extensions["settings"].log_level)


def configure_logging(level: str) -> None:
    """Install the JSON handler on the root logger once; later calls only set the level."""
    root = logging.getLogger()
    if not any(getattr(h, "_sinch_recorder", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._sinch_recorder = True  # type: ignore[attr-defined]
        handler.setFormatter(json_formatter())
        handler.addFilter(RequestContext())
        root.addHandler(handler)
    root.setLevel(level)


COMMAND_LEVEL = "ERROR"  # a flask command prints its output, not the service's log lines


def verbose_option(command) -> None:
    """Give a command ``-v/--verbose``: its log lines from INFO up (once: commands outlive apps)."""
    if any(param.name == "verbose" for param in command.params):
        return
    command.params.append(click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, is_eager=True,
                                       callback=_turn_up, help="Show the service's log lines (INFO and up)."))


def logging_command(group) -> None:
    """A group whose output *is* its log (``flask db upgrade``, the release phase): INFO, in JSON."""
    if any(param.name == "log" for param in group.params):
        return
    group.params.append(click.Option(["--log/--no-log"], default=True, hidden=True, expose_value=False,
                                     is_eager=True, callback=_turn_up))


def _turn_up(ctx, param, value) -> None:
    if value:
        logging.getLogger().setLevel(logging.INFO)
