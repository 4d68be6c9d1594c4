"""Recording verification: probe results, retry bookkeeping, the sweeper deadline.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:18:12.520148

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sample_rate', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('channels', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('expected_by', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verify_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('checks', sa.JSON(), nullable=True))
        batch_op.create_index('ix_recordings_expected_by', ['status', 'expected_by'], unique=False)



def downgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_expected_by')
        batch_op.drop_column('checks')
        batch_op.drop_column('last_checked_at')
        batch_op.drop_column('verify_attempts')
        batch_op.drop_column('expected_by')
        batch_op.drop_column('channels')
        batch_op.drop_column('sample_rate')

