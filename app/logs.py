"""JSON logs on stderr, each line carrying the request id and the call id when there is one."""

from __future__ import annotations

import logging
import sys

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter


class RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = getattr(g, "request_id", None)
            record.call_id = getattr(g, "call_id", None)
        return True


def configure_logging(level: str) -> None:
    """Install the JSON handler on the root logger once; later calls only set the level."""
    root = logging.getLogger()
    if not any(getattr(h, "_sinch_recorder", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._sinch_recorder = True  # type: ignore[attr-defined]
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))
        handler.addFilter(RequestContext())
        root.addHandler(handler)
    root.setLevel(level)
