"""The callback journal: every request to the callback URL, stored before it is answered.

A row holds what arrived (raw body, event, call id, application key, signature verdict) and
what we did with it (status, outcome, reply, error, handling time). The Authorization header
is never stored. When the database cannot take the row, the entry goes to a spool file under
the instance folder instead (one JSON line each), so nothing is lost while the database is
down. This package is persistence only: bringing a spool back (import, then replay) is
``app.callbacks.recovery``; ``flask journal`` is ``app.callbacks.commands``.

* ``entries`` — the table, :class:`Entry` as the callbacks fill it, storing, correcting, pruning;
* ``writer`` — the group-commit :class:`Writer` (one thread per process and engine);
* ``spool`` — :class:`Spool`, where entries wait while the database is away.
"""

from app.journal.entries import (
    COMMITTED,
    STORED,
    Entry,
    JournalEntry,
    correct,
    ordered_id,
    prune,
    store,
    store_again,
    values,
)
from app.journal.spool import REPLAYED, Spool
from app.journal.writer import CLOSE, Late, Writer, gathering, store_group

__all__ = ["CLOSE", "COMMITTED", "REPLAYED", "STORED", "Entry", "JournalEntry", "Late", "Spool", "Writer",
           "correct", "gathering", "ordered_id", "prune", "store", "store_again", "store_group", "values"]
