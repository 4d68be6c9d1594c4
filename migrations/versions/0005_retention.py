"""Retention: retain_until, legal hold, and the deletion receipt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:11:54.291940

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retain_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('legal_hold', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deletion', sa.JSON(), nullable=True))
        batch_op.create_index('ix_recordings_retain_until', ['retain_until'], unique=False)



def downgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_retain_until')
        batch_op.drop_column('deletion')
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('legal_hold')
        batch_op.drop_column('retain_until')

