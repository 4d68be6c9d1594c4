"""Signed tree heads: what the log commits to, signed with the service's Ed25519 key, and kept.

A head is ``{"log_id", "tree_size", "timestamp", "root_hash", "signature"}``: ``timestamp`` in
milliseconds since the epoch, ``root_hash`` and ``signature`` standard base64, ``log_id`` the hex
SHA-256 of the raw 32-byte public key. The signature is Ed25519 over the RFC 8785 (JCS) bytes of
the head without ``signature``. The pure half (:func:`sign`, :func:`check`) knows no database;
:func:`make` and the readers below keep and find heads.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from app.events import log as event_log
from app.evidence import log, merkle
from app.evidence.models import TreeHead

_heads = TreeHead.__table__
ALGORITHM = "Ed25519"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise merkle.ProofError(f"{what} is not standard base64") from None


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def log_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()


def key_document(key: Ed25519PrivateKey) -> dict:
    """``/api/v1/evidence/key``: what a verifier needs."""
    public = public_raw(key)
    return {"log_id": log_id(public), "algorithm": ALGORITHM, "public_key": b64(public)}


def signed_bytes(head: dict) -> bytes:
    """What the signature covers: the head without ``signature``, in RFC 8785 form."""
    return rfc8785.dumps({name: head[name] for name in ("log_id", "tree_size", "timestamp", "root_hash")})


def sign(key: Ed25519PrivateKey, tree_size: int, timestamp: int, root_hash: bytes) -> dict:
    head = {"log_id": log_id(public_raw(key)), "tree_size": tree_size, "timestamp": timestamp,
            "root_hash": b64(root_hash)}
    return {**head, "signature": b64(key.sign(signed_bytes(head)))}


def check(head: dict, public: bytes) -> None:
    """Raise :class:`merkle.ProofError` unless ``public`` signed ``head``."""
    if head.get("log_id") != log_id(public):
        raise merkle.ProofError(f"the tree head is of log {head.get('log_id')}, not of this key's "
                                f"({log_id(public)})")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(unb64(head["signature"], "the signature"),
                                                          signed_bytes(head))
    except InvalidSignature:
        raise merkle.ProofError(f"the signature of the tree head of size {head['tree_size']} does not verify") from None


def shown(row) -> dict:
    """A kept head as the API gives it."""
    return {"log_id": row["log_id"], "tree_size": row["tree_size"], "timestamp": row["timestamp"],
            "root_hash": b64(bytes(row["root_hash"])), "signature": b64(bytes(row["signature"]))}


def latest(connection: Connection) -> dict | None:
    row = connection.execute(select(_heads).order_by(_heads.c.tree_size.desc()).limit(1)).mappings().first()
    return None if row is None else shown(row)


def at(connection: Connection, tree_size: int) -> dict | None:
    row = connection.execute(select(_heads).where(_heads.c.tree_size == tree_size)).mappings().first()
    return None if row is None else shown(row)


def every(connection: Connection):
    """Every kept head, smallest tree first."""
    return [shown(row) for row in connection.execute(select(_heads).order_by(_heads.c.tree_size)).mappings()]


def make(engine: Engine, key: Ed25519PrivateKey, now: datetime | None = None, every_seconds: float = 0) -> dict | None:
    """Sign and keep a head of the tree as it is, unless it has not grown since the last head or
    that head is younger than ``every_seconds``; the new head, or None."""
    now = now or datetime.now(timezone.utc)
    timestamp = int(now.timestamp() * 1000)
    with engine.begin() as connection:
        tree_size = event_log.hold(connection, log.NAME)  # the appender's lock: the tree holds still while signed
        last = connection.execute(select(_heads.c.tree_size, _heads.c.timestamp)
                                  .order_by(_heads.c.tree_size.desc()).limit(1)).first()
        if tree_size == 0 or (last is not None and (last.tree_size >= tree_size
                                                    or timestamp - last.timestamp < every_seconds * 1000)):
            return None
        root_hash = log.root(connection, tree_size)
        head = sign(key, tree_size, timestamp, root_hash)
        connection.execute(insert(_heads).values(tree_size=tree_size, timestamp=timestamp, root_hash=root_hash,
                                                 log_id=head["log_id"], signature=unb64(head["signature"], "signature")))
    return head
