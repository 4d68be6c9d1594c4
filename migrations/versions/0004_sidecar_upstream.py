"""Sidecar mode: the upstream's own reply beside the merged one; journal entry ids (idempotent writes).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:47:14.354001

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upstream', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('entry_id', sa.String(length=32), nullable=True))
        batch_op.create_index('ux_journal_entry_id', ['entry_id'], unique=True)



def downgrade():
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_index('ux_journal_entry_id')
        batch_op.drop_column('entry_id')
        batch_op.drop_column('upstream')

