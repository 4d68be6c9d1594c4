"""Callback journal: every request to the callback URL.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 18:41:47.620227

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('journal',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('event', sa.String(length=16), nullable=True),
    sa.Column('call_id', sa.String(length=256), nullable=True),
    sa.Column('application_key', sa.String(length=128), nullable=True),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('content_type', sa.String(length=256), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('signature', sa.String(length=32), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('handling_ms', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.create_index('ix_journal_call_id', ['call_id', 'id'], unique=False)
        batch_op.create_index('ix_journal_received_at', ['received_at'], unique=False)



def downgrade():
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_received_at')
        batch_op.drop_index('ix_journal_call_id')

    op.drop_table('journal')
