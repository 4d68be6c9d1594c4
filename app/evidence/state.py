"""Where the transparency log stands, for ``/metrics`` and ``flask evidence status``: its leaves,
the numbered events still to append, the leaves no signed head covers yet, and the heads not yet
written to the evidence destination."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from app.events import log as event_log
from app.evidence import log, publish
from app.evidence.models import TreeHead

_heads = TreeHead.__table__


def state(connection: Connection, ruleset) -> dict:
    """``unwritten`` is 0 when the ruleset names no evidence destination."""
    leaves = log.size(connection)
    signed = connection.execute(select(func.max(_heads.c.tree_size))).scalar() or 0
    unwritten = 0
    if ruleset.evidence is not None:
        written = event_log.position(connection, publish.NAME)
        unwritten = connection.execute(select(func.count()).select_from(_heads)
                                       .where(_heads.c.tree_size > written)).scalar()
    return {"leaves": leaves, "waiting": log.waiting(connection), "unsigned": leaves - signed, "unwritten": unwritten}
