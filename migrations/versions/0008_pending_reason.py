"""Why a recording is not final yet: the last problem a verification retry met.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_reason', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_column('pending_reason')
