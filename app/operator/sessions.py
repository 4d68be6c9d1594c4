"""Operator sign-ins, kept server-side so that signing out ends a session for good.

The browser's cookie holds a random session id; the table holds only its SHA-256 (a stolen
database holds no usable session), the token's fingerprint, and when the session began and
ended. A session is good while it has not ended, is younger than ``LIFETIME`` and its token is
still one of ``API_TOKENS``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import UtcDateTime, db

LIFETIME = timedelta(hours=12)


class OperatorSession(db.Model):
    __tablename__ = "operator_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def begin(session: Session, fingerprint: str) -> str:
    """A new session for the token with this fingerprint; returns the id for the cookie. Sessions
    past their lifetime are forgotten on the way."""
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    session.execute(delete(OperatorSession).where(OperatorSession.started_at < now - LIFETIME))
    session.add(OperatorSession(id_hash=_hash(session_id), fingerprint=fingerprint,
                                started_at=now))
    session.commit()
    return session_id


def fingerprint_of(session: Session, session_id: str) -> str | None:
    """The token fingerprint of a session still good, or None."""
    row = session.scalar(select(OperatorSession).where(OperatorSession.id_hash == _hash(session_id)))
    if row is None or row.ended_at is not None or datetime.now(timezone.utc) - row.started_at > LIFETIME:
        return None
    return row.fingerprint


def end(session: Session, session_id: str) -> None:
    session.execute(update(OperatorSession).where(OperatorSession.id_hash == _hash(session_id),
                                                  OperatorSession.ended_at.is_(None))
                    .values(ended_at=datetime.now(timezone.utc)))
    session.commit()
