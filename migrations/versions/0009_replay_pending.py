"""Spooled callbacks waiting for their replay: imported DiCE and notifies keep a flag until their
effect on the catalogue is committed, so a replay interrupted by the database resumes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replay_pending', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index('ix_journal_replay_pending', ['replay_pending'], unique=False)


def downgrade():
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_replay_pending')
        batch_op.drop_column('replay_pending')
