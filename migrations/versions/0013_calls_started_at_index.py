"""The calls' index on started_at goes: no query reads calls by when they started (the API and
the operator pages look a call up by its id; recordings are listed by their own requested_at),
and every ICE paid for it with one more B-tree written.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 20:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_calls_started_at', table_name='calls')


def downgrade():
    op.create_index('ix_calls_started_at', 'calls', ['started_at'], unique=False)
