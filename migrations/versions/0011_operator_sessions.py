"""Operator sessions kept server-side (hashed ids), so signing out ends a session for good.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 03:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'operator_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('fingerprint', sa.String(length=32), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id_hash'),
    )


def downgrade():
    op.drop_table('operator_sessions')
