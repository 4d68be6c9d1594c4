"""Each signed tree head written also to the customer's own bucket (the ruleset's ``evidence:``).

A head is a new object, ``{prefix}{log_id}/{tree_size:020}.json`` (the head's JSON as the API gives
it), never an overwrite, so the bucket's own protection applies to it as to any new object: S3
Object Lock's default retention, an Azure container's immutability policy, a GCS retention
policy. Whoever runs the service then cannot rewrite history without the customer's bucket
showing the heads it signed before.

Heads are written in order, one publisher at a time: the ``evidence_copies`` row of
``event_sequence`` (``last``: the largest tree size written) is updated first, as the appender's
row is. A head that cannot be written stops the round; the next round (the worker's, every
minute) starts again from it.
"""

from __future__ import annotations

import io

from sqlalchemy import select
from sqlalchemy.engine import Engine

from app.events import log as event_log
from app.evidence import log
from app.evidence.heads import shown
from app.evidence.models import TreeHead
from app.storage import Location, parse_location, reader

NAME = "evidence_copies"
_heads = TreeHead.__table__


def location_of(ruleset, head: dict) -> Location:
    """Where a head goes in the ruleset's evidence destination."""
    copies = ruleset.evidence
    destination = ruleset.destinations[copies.destination]
    return parse_location(f"{destination.scheme}://{destination.url.container}/{copies.prefix}{head['log_id']}/"
                          f"{head['tree_size']:020d}.json")


def publish(engine: Engine, ruleset) -> int:
    """Write every kept head not written yet, smallest first; how many were. A store's refusal
    is raised (:class:`app.storage.StorageError`) once the heads before it are written and counted."""
    if ruleset.evidence is None:
        return 0
    destination = ruleset.destinations[ruleset.evidence.destination]
    writer = reader(destination.scheme, destination.copy_credentials)
    written = 0
    while True:
        with engine.begin() as connection:
            last = event_log.hold(connection, NAME)
            row = connection.execute(select(_heads).where(_heads.c.tree_size > last)
                                     .order_by(_heads.c.tree_size).limit(1)).mappings().first()
            if row is None:
                return written
            head = shown(row)
            body = log.canonical(head) + b"\n"
            writer.upload(location_of(ruleset, head), io.BytesIO(body), len(body), "application/json")
            event_log.advance(connection, NAME, head["tree_size"])
        written += 1
