"""The transparency log's tables: its leaves (each event's exact bytes, in the log's order), the
hashes of its perfect subtrees, and the signed tree heads, all kept. Only the appender
(:mod:`app.evidence.log`) writes the first two, and only the signer (:mod:`app.evidence.heads`)
the third; nothing in them is ever updated."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import db


class EvidenceLeaf(db.Model):
    """Leaf ``leaf_index``: the event ``event_id`` (the feed's ``seq``) as the bytes that were hashed."""

    __tablename__ = "evidence_leaves"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    entry: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # RFC 8785 JSON of the event
    # What the event concerns, kept here so a bundle outlives the event log's retention.
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    recording_id: Mapped[str | None] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(256))

    # A bundle reads a recording's leaves and its call's consent ones; only those are indexed.
    __table_args__ = (
        Index("ix_evidence_leaves_recording_id", "recording_id"),
        Index("ix_evidence_leaves_consent", "call_id", sqlite_where=text("type = 'call.consent'"),
              postgresql_where=text("type = 'call.consent'")),
    )


class EvidenceNode(db.Model):
    """The hash of one perfect subtree (a leaf's included), keyed by :func:`app.evidence.merkle.node_id`."""

    __tablename__ = "evidence_nodes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class TreeHead(db.Model):
    """A signed tree head: the root of the first ``tree_size`` leaves, when, and by which key."""

    __tablename__ = "evidence_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)  # ms since the epoch
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    log_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64), nullable=False)
