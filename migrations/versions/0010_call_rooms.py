"""Conference rooms: the room each call was connected to, so a room is recorded once and its
recording's deadline starts when the last participant leaves.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 01:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conference_id', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_calls_conference_id', ['conference_id', 'ended_at'], unique=False)
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index('ix_recordings_conference_id', ['conference_id', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_conference_id')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_conference_id')
        batch_op.drop_column('conference_id')
