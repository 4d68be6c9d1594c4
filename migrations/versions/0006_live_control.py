"""Live control: the call's Manage Call URL and the log of start/stop/pause/resume requests.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 20:21:11.039255

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resource_url', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('controls', sa.JSON(), nullable=True))



def downgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('controls')
        batch_op.drop_column('resource_url')

