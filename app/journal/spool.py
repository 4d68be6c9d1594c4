"""The spool: where journal entries wait while the database cannot take them — a file under the
instance folder, or a Redis list shared by every process — and how they are imported once it
is back."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from redis.exceptions import ResponseError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, StatementError

from app.db import db
from app.journal.entries import INSERT, Entry, stored_outcomes, values
from app.metrics import JOURNAL_FAILURES, JOURNAL_QUARANTINED

log = logging.getLogger(__name__)

_spool_lock = threading.Lock()
# How long a claim on a shared spool list holds while its importer works. An import takes one
# transaction; past this its importer is taken for dead and another process imports the list
# (harmless even if it was not: each entry keeps its id, so one stored twice is stored once).
LEASE_SECONDS = 60
# What to do, inside the import's transaction, with a spooled entry whose id was stored with
# another outcome (the callbacks room withdraws the decision the call never got).
Settle = Callable[[Connection, dict], None]


class Spool:
    """Where journal entries wait while the database cannot take them.

    With Redis (``REDIS_URL``) they go to one list shared by every process and dyno, so a dyno
    restarted during an outage loses nothing and any live process can import them; without it,
    or when Redis fails too, to a file of this process (``journal-<pid>.jsonl``) under the
    instance folder. Every entry keeps its own id, so importing twice stores it once.
    """

    def __init__(self, folder: Path, redis=None, key: str = "sinch-recorder:journal-spool",
                 settle: Settle | None = None):
        self.folder, self.redis, self.key, self.settle = folder, redis, key, settle

    def put(self, entry: Entry, error: Exception) -> None:
        """Keep ``entry`` because the database failed with ``error`` (logged, counted)."""
        JOURNAL_FAILURES.inc()
        log.error("journal write failed; the callback goes to the spool",
                  extra={"error": type(error).__name__, "call_id": entry.call_id})
        record = values(entry)
        record["received_at"] = entry.received_at.astimezone(timezone.utc).isoformat()
        record["body"] = base64.b64encode(entry.body).decode()
        line = json.dumps(record, separators=(",", ":"))
        if self.redis is not None:
            try:
                self.redis.rpush(self.key, line)
                return
            except Exception as failure:  # Redis is down too: this process's file keeps it
                log.error("Redis refused the spooled callback too; it goes to this process's file",
                          extra={"error": type(failure).__name__, "call_id": entry.call_id})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with _spool_lock, open(self.folder / f"journal-{os.getpid()}.jsonl", "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError:
            log.critical("journal spool failed too; callback kept only in this log",
                         extra={"call_id": entry.call_id, "event": entry.event})

    def waiting(self) -> list[dict]:
        """Every entry waiting: in Redis, then in this folder's files, oldest file first."""
        lines = list(self._shared_lines())
        for path in sorted(self.folder.glob("journal-*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                lines.extend(line for line in handle if line.strip())
        return [json.loads(line) for line in lines]

    def _shared_lines(self):
        if self.redis is None:
            return []
        keys = [self.key, *self.redis.scan_iter(match=f"{self.key}:importing:*")]
        return [line.decode() for key in keys for line in self.redis.lrange(key, 0, -1)]

    def import_waiting(self, *, own_only: bool = False) -> tuple[int, datetime | None]:
        """Move waiting entries into the database: the shared ones (Redis) and this folder's
        files (``own_only``: just this process's). Returns how many were moved and when the
        oldest of them was received (where a replay must start)."""
        moved, oldest = 0, None
        for count, first in self._import_shared():
            moved, oldest = moved + count, _earliest(oldest, first)
        count, first = self._import_files(own_only)
        return moved + count, _earliest(oldest, first)

    def _import_shared(self):
        """Claim the Redis list (renamed, so new entries start a fresh one), import it, drop it;
        on failure the lines go back. A claim carries a lease (``LEASE_SECONDS``): a list claimed
        by a live importer is left to it, and one whose claimer died mid-import (its lease ran
        out) is claimed anew and imported here. Two processes never import one list at once."""
        if self.redis is None:
            return
        mine = [self._claim(self.key)]
        for key in list(self.redis.scan_iter(match=f"{self.key}:importing:*")):
            token = key.decode().rsplit(":", 1)[-1]
            if not self.redis.exists(f"{self.key}:lease:{token}"):  # its claimer is gone
                mine.append(self._claim(key))
        for claimed, lease in filter(None, mine):
            lines = [line.decode() for line in self.redis.lrange(claimed, 0, -1)]
            try:
                yield self._import_lines(lines)
            except Exception:
                if lines:
                    self.redis.rpush(self.key, *lines)
                self.redis.delete(claimed, lease)
                raise
            self.redis.delete(claimed, lease)

    def _claim(self, key) -> tuple[str, str] | None:
        """Rename ``key`` to a list of this importer's own, under a lease taken first (so the list
        is never seen without one). None when another importer renamed it first."""
        token = uuid.uuid4().hex[:12]
        claimed, lease = f"{self.key}:importing:{token}", f"{self.key}:lease:{token}"
        self.redis.set(lease, os.getpid(), ex=LEASE_SECONDS)
        try:
            self.redis.rename(key, claimed)
        except ResponseError:  # no such key: nothing spooled, or another importer was first
            self.redis.delete(lease)
            return None
        return claimed, lease

    def _import_files(self, own_only: bool) -> tuple[int, datetime | None]:
        """Each file is claimed first (renamed under the spool lock), so lines spooled meanwhile
        go to a fresh file instead of being lost; if the database fails, it goes back."""
        moved, oldest = 0, None
        pattern = f"journal-{os.getpid()}[.-]*jsonl" if own_only else "journal-*.jsonl"
        for path in sorted(self.folder.glob(pattern)):
            claimed = path.with_name(f"{path.name}.importing-{uuid.uuid4().hex[:8]}")
            with _spool_lock:
                try:
                    path.replace(claimed)
                except FileNotFoundError:
                    continue
            try:
                with open(claimed, encoding="utf-8") as handle:
                    count, first = self._import_lines([line for line in handle if line.strip()])
            except Exception:
                claimed.replace(self.folder / f"journal-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl")  # back, untouched
                raise
            claimed.unlink()
            moved, oldest = moved + count, _earliest(oldest, first)
        return moved, oldest

    def _import_lines(self, lines: list[str]) -> tuple[int, datetime | None]:
        """Import spooled lines. The database failing takes them all back (raise); a line that can
        never be imported (unreadable, or refused by the database for what it holds) is set aside
        with the reason (:meth:`quarantine`) so the lines after it still come in."""
        rows = []
        for line in lines:
            try:
                rows.append(_row(json.loads(line)))
            except (ValueError, KeyError, TypeError) as error:
                self.quarantine(line, f"unreadable: {type(error).__name__}: {error}"[:300])
        try:
            return _insert_new(rows, self.settle)
        except DBAPIError as error:
            if _database_away(error):
                raise
        except StatementError:  # a value the driver cannot send: found row by row below
            pass
        moved, oldest = 0, None
        for row in rows:  # one by one, so one bad row does not hold the others back
            try:
                count, first = _insert_new([row], self.settle)
            except (DBAPIError, StatementError) as error:
                if isinstance(error, DBAPIError) and _database_away(error):
                    raise
                self.quarantine(_line(row), f"refused by the database: {type(error.orig).__name__}"
                                if getattr(error, "orig", None) is not None else type(error).__name__)
                continue
            moved, oldest = moved + count, _earliest(oldest, first)
        return moved, oldest

    def quarantine(self, line: str, reason: str) -> None:
        """Set a spooled line aside for good, with why (Redis ``<key>:quarantine``, else
        ``quarantine.jsonl`` here); ``flask journal spool`` and ``/readyz`` count them."""
        JOURNAL_QUARANTINED.inc()
        log.error("a spooled callback cannot be imported; quarantined", extra={"reason": reason})
        record = json.dumps({"at": datetime.now(timezone.utc).isoformat(), "reason": reason, "line": line.strip()})
        if self.redis is not None:
            try:
                self.redis.rpush(f"{self.key}:quarantine", record)
                return
            except Exception:
                pass
        self.folder.mkdir(parents=True, exist_ok=True)
        with _spool_lock, open(self.folder / "quarantine.jsonl", "a", encoding="utf-8") as handle:
            handle.write(record + "\n")

    def quarantined(self) -> int:
        count = self.redis.llen(f"{self.key}:quarantine") if self.redis is not None else 0
        path = self.folder / "quarantine.jsonl"
        if path.exists():
            with open(path, encoding="utf-8") as handle:
                count += sum(1 for line in handle if line.strip())
        return count

    def hand_off(self) -> int:
        """Before this process exits: its file's entries into the database, else into Redis.
        Returns how many left the file."""
        try:
            return self._import_files(own_only=True)[0]
        except Exception as error:
            if self.redis is None:
                log.error("the spool stays on this disk: the database is still down and there is no Redis",
                          extra={"error": type(error).__name__})
                return 0
        lines, paths = [], sorted(self.folder.glob(f"journal-{os.getpid()}[.-]*jsonl"))
        for path in paths:
            lines.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        if lines:
            self.redis.rpush(self.key, *lines)
        for path in paths:
            path.unlink()
        return len(lines)


def _insert_new(rows: list[dict], settle: Settle | None = None) -> tuple[int, datetime | None]:
    """Insert the rows not in the journal yet (by entry id); how many, and the oldest's time.
    A row already stored with another outcome (its COMMIT went through unseen, but the request
    answered otherwise) is handed to ``settle`` in the same transaction."""
    if not rows:
        return 0, None
    with db.engine.begin() as connection:
        stored = stored_outcomes(connection, [row["entry_id"] for row in rows if row.get("entry_id")])
        new = [row for row in rows if row.get("entry_id") not in stored]
        if settle is not None:
            for row in rows:
                if row.get("entry_id") in stored and stored[row["entry_id"]] != row["outcome"]:
                    settle(connection, row)
        if new:
            connection.execute(INSERT, new)
    return len(new), min((row["received_at"] for row in new), default=None)


def _database_away(error: DBAPIError) -> bool:
    """Down, unreachable or cut mid-way (try again later), as opposed to refusing what a row holds."""
    return isinstance(error, (OperationalError, InterfaceError)) or error.connection_invalidated


def _line(row: dict) -> str:
    record = {**row, "received_at": row["received_at"].isoformat(), "body": base64.b64encode(row["body"]).decode()}
    record.pop("replay_pending", None)
    return json.dumps(record, default=str)


def _earliest(one: datetime | None, other: datetime | None) -> datetime | None:
    return min(filter(None, (one, other)), default=None)


def _row(record: dict) -> dict:
    """A spooled line as a journal row; a DiCE or notify among them waits for its replay."""
    record["received_at"] = datetime.fromisoformat(record["received_at"])
    record["body"] = base64.b64decode(record["body"])
    record["replay_pending"] = record.get("event") in REPLAYED
    return record


REPLAYED = ("dice", "notify")  # what a replay re-drives: the events whose effect is on the catalogue
