"""The live ruleset of a process: loaded at start, swapped atomically on reload.

``RULES_FILE`` names the ruleset. Unset, the demo ``config/rules.example.yaml`` serves, and
the start-up log, ``/readyz`` and the operator page say so. Set, the file must be readable at
start or the start stops: a typo never quietly serves something else.

``SIGHUP`` (sent to the web or worker processes) and, optionally, a change of the file's
modification time (``RULES_WATCH_SECONDS``) reload it. A file that does not validate never
replaces the ruleset in use: the problems are logged and the old ruleset keeps serving.

Loading goes through :mod:`app.rules.cache`: the first process of the instance to load a text
compiles it and keeps it, encrypted, in the instance folder; the others read that copy.

Each ruleset that validates is copied to the instance folder, under a name made from the
file's path. When that same file is invalid at start (a gunicorn ``HUP`` restarts workers,
which then read it afresh), the copy serves instead, loudly; with no copy of that file, the
start fails with the problems listed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Callable, Mapping

from app.rules import cache
from app.rules.model import Ruleset
from app.rules.schema import RulesError, RulesFileUnreadable, load_ruleset
from app.settings import PROJECT_ROOT, SettingsError

log = logging.getLogger(__name__)


DEMO_RULES = PROJECT_ROOT / "config" / "rules.example.yaml"
DEMO_WARNING = ("RULES_FILE is unset: serving the DEMO ruleset config/rules.example.yaml. "
                "Set RULES_FILE to your own ruleset before taking real calls.")


def rules_path(configured: Path | None) -> Path:
    """The ruleset to serve: ``RULES_FILE``, or the demo when it is unset."""
    return configured or DEMO_RULES


def last_good_copy(instance_path: Path, rules_file: Path) -> Path:
    """Where the last valid version of *this* file is kept: one copy per file, never shared."""
    digest = hashlib.sha256(str(rules_file.resolve()).encode()).hexdigest()[:16]
    return instance_path / f"rules.last-good.{digest}.yaml"


class RulesHolder:
    def __init__(self, path: Path, environ: Mapping[str, str], *, allow_literal_credentials: bool = False,
                 snapshot: Path | None = None, demo: bool = False, compiled: Path | None = None):
        self.path, self.environ, self.allow_literal = path, environ, allow_literal_credentials
        self.compiled = compiled  # the folder where the dyno's processes share compiled rulesets
        self.demo = demo  # the shipped example serves because RULES_FILE is unset
        self.checks: list[Callable[[Ruleset], dict]] = []  # problems other rooms find (sidecar consent, say)
        self.snapshot = snapshot
        self._lock = threading.Lock()
        self._mtime = self._stat()
        self._current = self._initial()

    @property
    def current(self) -> Ruleset:
        return self._current

    def _load(self, path: Path) -> Ruleset:
        if self.compiled is None:
            ruleset = load_ruleset(path, self.environ, allow_literal_credentials=self.allow_literal)
        else:
            ruleset = cache.load(path, self.environ, self.compiled, allow_literal_credentials=self.allow_literal)
        self._check(ruleset, self.checks)
        return ruleset

    @staticmethod
    def _check(ruleset: Ruleset, checks) -> None:
        problems = {path: texts for check in checks for path, texts in check(ruleset).items()}
        if problems:
            raise RulesError(problems, ruleset.source)

    def add_check(self, check: Callable[[Ruleset], dict]) -> None:
        """Hold the ruleset in use, and every reload, to a further check (RulesError if it fails now)."""
        self._check(self._current, [check])
        self.checks.append(check)

    def _initial(self) -> Ruleset:
        try:
            ruleset = self._load(self.path)
        except RulesFileUnreadable:
            raise  # a missing or unreadable file stops the start, whatever copy there is
        except RulesError as error:
            if self.snapshot is None or not self.snapshot.exists():
                raise
            log.error("RULES_FILE is invalid; serving the last good ruleset until it is fixed",
                      extra={"problems": error.problems, "rules_file": str(self.path)})
            return self._load(self.snapshot)
        self._keep(ruleset)
        return ruleset

    def _keep(self, ruleset: Ruleset) -> None:
        if self.snapshot is None or self.path == self.snapshot:
            return
        try:
            self.snapshot.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.snapshot.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(self.path.read_bytes())
            temporary.replace(self.snapshot)
        except OSError as error:
            log.warning("could not keep a copy of the ruleset", extra={"error": str(error)})

    def reload(self) -> bool:
        """Validate the file and swap it in; on any problem keep the ruleset in use."""
        with self._lock:
            self._mtime = self._stat()
            try:
                ruleset = self._load(self.path)
            except RulesError as error:
                log.error("rules reload refused; the previous ruleset stays in use",
                          extra={"problems": error.problems, "kept_hash": self._current.hash})
                return False
            self._current = ruleset
            self._keep(ruleset)
        log.info("rules reloaded", extra={"hash": ruleset.hash, "rules": len(ruleset.rules)})
        return True

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def reload_if_changed(self) -> bool:
        return self._stat() != self._mtime and self.reload()

    def install_sighup(self) -> bool:
        """Reload on SIGHUP; only possible from the main thread (gunicorn and huey workers).

        The reload runs in a thread of its own, so a large ruleset (100 000 rules take about 2.5 s
        to compile) never stalls the worker's main loop; requests keep being served by the old
        ruleset until the new one is swapped in.
        """
        if threading.current_thread() is not threading.main_thread():
            return False

        def on_hangup(signum, frame) -> None:
            threading.Thread(target=self.reload, name="rules-reload", daemon=True).start()

        signal.signal(signal.SIGHUP, on_hangup)
        return True

    def watch(self, interval: float) -> threading.Thread:
        """Poll the file's modification time every ``interval`` seconds in a daemon thread."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval):
                self.reload_if_changed()

        thread = threading.Thread(target=run, name="rules-watch", daemon=True)
        thread.stop = stop  # type: ignore[attr-defined]
        thread.start()
        return thread


def init_app(app) -> None:
    """The live ruleset: ``RULES_FILE`` (or the demo), reloaded on SIGHUP or a file change."""
    settings = app.extensions["settings"]
    path = rules_path(settings.rules_file)
    try:
        holder = RulesHolder(path, os.environ, allow_literal_credentials=settings.rules_allow_literal_credentials,
                             snapshot=last_good_copy(settings.instance_path, path), demo=settings.rules_file is None,
                             compiled=settings.instance_path)
    except RulesError as error:
        raise SettingsError(f"RULES_FILE: {error}") from None
    holder.install_sighup()
    if settings.rules_watch_seconds:
        holder.watch(settings.rules_watch_seconds)
    log.info("rules loaded", extra={"rules_file": str(holder.path), "hash": holder.current.hash,
                                    "rules": len(holder.current.rules), "demo": holder.demo})
    if holder.demo:
        log.warning(DEMO_WARNING)
    app.extensions["rules"] = holder
