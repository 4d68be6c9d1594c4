"""Sensitive input: what a call's replies opened and paused (calls.sensitive: the sensitive menu
ids, the upstream's recording options sealed, the pause in progress), and whether a journal row's
body was redacted after its signature was verified on the original (journal.redacted).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 06:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls') as batch:
        batch.add_column(sa.Column('sensitive', sa.JSON(), nullable=True))
    with op.batch_alter_table('journal') as batch:
        batch.add_column(sa.Column('redacted', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('journal') as batch:
        batch.drop_column('redacted')
    with op.batch_alter_table('calls') as batch:
        batch.drop_column('sensitive')
