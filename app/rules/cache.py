"""A validated ruleset kept for the dyno's other processes: loaded once per dyno, not once per process.

Each web worker and the queue worker load ``RULES_FILE`` when they start and on every reload. The
first of them to load a given text compiles it (:func:`~app.rules.schema.parse_ruleset`: 2.4 s at
100 000 rules), goes on with it, and keeps it in the instance folder (in a thread, another second);
the others, waiting on a file lock meanwhile, read that copy instead (under a second). Nothing
else about loading changes: each process still decides what to load and when (start, ``SIGHUP``,
``RULES_WATCH_SECONDS``, the last good copy), and a file that does not validate is never kept,
so each process refuses and reports it as before.

What is kept is the :class:`~app.rules.model.Ruleset` pickled, then encrypted and authenticated
(AES-GCM) under a key made of everything the result depends on: the file's text and path, the
values of the environment variables the text refers to, whether literal credentials are allowed,
and this code (every module of the app, the Python and library versions). So only a process that
would compile that very ruleset itself can read the copy; an edited file, a rotated credential
or a new release is another key, and compiles afresh; and the credentials inside never lie on
disk in clear. A copy that does not authenticate (damaged, stale, forged) is compiled over.
Unpickling admits only the classes a ruleset is made of.
"""

from __future__ import annotations

import copyreg
import fcntl
import functools
import hashlib
import importlib.metadata
import io
import logging
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.rules.model import Ruleset
from app.rules.schema import REFERENCE, collector_paused, parse_ruleset, read_file

log = logging.getLogger(__name__)

APP = Path(__file__).resolve().parents[1]
MAGIC = b"sinch-recorder ruleset 1\n"
LIBRARIES = ("pyyaml", "rapidyaml", "marshmallow", "tzdata")
# The classes a ruleset is made of, and what pickle needs to rebuild them.
ALLOWED = {
    *((module, None) for module in ("app.placeholders", "app.rules.engine", "app.rules.matching", "app.rules.model",
                                     "app.storage.keys")),
    ("collections", "defaultdict"), ("datetime", "time"), ("zoneinfo", "ZoneInfo"),
    *(("builtins", name) for name in ("dict", "frozenset", "list", "set", "tuple", "bytes", "object")),
}


def load(path: Path, environ: Mapping[str, str], folder: Path, *, allow_literal_credentials: bool = False) -> Ruleset:
    """The ruleset in ``path``: kept by another process of this instance, or compiled here and kept.

    RulesError as :func:`~app.rules.schema.load_ruleset` raises it; the cache itself never fails
    a load (a folder it cannot write is logged, and the ruleset compiled every time)."""
    text = read_file(path)
    key = cache_key(text, str(path), environ, allow_literal_credentials)
    name = f"rules.compiled.{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]}"  # one per file
    kept = folder / f"{name}.bin"

    def compile_here() -> Ruleset:
        return parse_ruleset(text, environ, source=str(path), allow_literal_credentials=allow_literal_credentials)

    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / f"{name}.lock", "a")
    except OSError as error:
        log.warning("the compiled-ruleset cache is unavailable; compiling in this process",
                    extra={"error": str(error), "folder": str(folder)})
        return compile_here()
    try:
        fcntl.flock(lock, fcntl.LOCK_SH)  # any number read a copy at once
        ruleset = _read(kept, key)
        if ruleset is None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one compiles; the others wait for its copy
            ruleset = _read(kept, key)  # kept by another while this one waited
        if ruleset is not None:
            lock.close()
            log.info("rules read as compiled by another process", extra={"rules_file": str(path),
                                                                         "hash": ruleset.hash})
            return ruleset
        ruleset = compile_here()
    except BaseException:
        lock.close()  # a file that does not validate is never kept: the next process compiles it too
        raise
    log.info("rules compiled; keeping them for the other processes", extra={"rules_file": str(path),
                                                                            "hash": ruleset.hash})
    # Kept once this process has its ruleset: the others wait on the lock until the copy is written.
    threading.Thread(target=_keep, args=(lock, kept, key, ruleset), name="rules-keep").start()
    return ruleset


def _keep(lock, kept: Path, key: bytes, ruleset: Ruleset) -> None:
    with lock:  # closing it releases the others
        _write(kept, key, ruleset)


def cache_key(text: str, source: str, environ: Mapping[str, str], allow_literal: bool) -> bytes:
    """32 bytes that change with anything the compiled ruleset depends on."""
    digest = hashlib.sha256(MAGIC + code_fingerprint())
    digest.update(f"{source}\0{allow_literal}\0".encode())
    for name in sorted({match.group(1) for match in REFERENCE.finditer(text)}):
        value = environ.get(name)
        digest.update(f"{name}\0{'-' if value is None else '=' + value}\0".encode())
    digest.update(text.encode())
    return digest.digest()


@functools.cache
def code_fingerprint() -> bytes:
    """This code: every module of the app, and the Python and library versions loading depends on."""
    digest = hashlib.sha256(sys.version.encode())
    for name in LIBRARIES:
        digest.update(f"{name}={importlib.metadata.version(name)}\0".encode())
    for module in sorted(APP.rglob("*.py")):
        digest.update(str(module.relative_to(APP)).encode() + b"\0" + module.read_bytes() + b"\0")
    return digest.digest()


def _read(kept: Path, key: bytes) -> Ruleset | None:
    try:
        sealed = kept.read_bytes()
    except OSError:
        return None
    if not sealed.startswith(MAGIC):
        return None
    nonce, body = sealed[len(MAGIC):len(MAGIC) + 12], sealed[len(MAGIC) + 12:]
    try:
        with collector_paused():  # as when compiling: a ruleset is hundreds of thousands of objects
            ruleset = _Unpickler(io.BytesIO(AESGCM(key).decrypt(nonce, body, MAGIC))).load()
    except (InvalidTag, ValueError):
        return None  # another text, environment or release: compiled afresh
    except pickle.UnpicklingError as error:
        log.warning("a compiled ruleset was refused", extra={"error": str(error), "file": str(kept)})
        return None
    return ruleset if isinstance(ruleset, Ruleset) else None


def _write(kept: Path, key: bytes, ruleset: Ruleset) -> None:
    nonce = os.urandom(12)
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, ZoneInfo: _zone}
    with collector_paused():
        pickler.dump(ruleset)
    sealed = MAGIC + nonce + AESGCM(key).encrypt(nonce, buffer.getvalue(), MAGIC)
    temporary = kept.with_name(f"{kept.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(sealed)
        temporary.replace(kept)
    except OSError as error:
        log.warning("could not keep the compiled ruleset", extra={"error": str(error), "file": str(kept)})


def _zone(zone: ZoneInfo):
    """A time zone by its name (``ZoneInfo(key)``), not through ``getattr``, which unpickling refuses."""
    return ZoneInfo, (zone.key,)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED or ((module, None) in ALLOWED and not name.startswith("_")):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a ruleset")
