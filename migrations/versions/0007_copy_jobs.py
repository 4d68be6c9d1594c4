"""Copies: lineage on recordings and the copy jobs table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('copied_from', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_recordings_copied_from', ['copied_from'], unique=False)
    op.create_table(
        'copy_jobs',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('recording_id', sa.String(length=32), nullable=False),
        sa.Column('target_url', sa.String(length=1024), nullable=False),
        sa.Column('destination', sa.String(length=64), nullable=True),
        sa.Column('runner', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=True),
        sa.Column('bytes_total', sa.BigInteger(), nullable=True),
        sa.Column('bytes_done', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('copy_id', sa.String(length=32), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('requested_by', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('copy_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_copy_jobs_recording_id', ['recording_id', 'created_at'], unique=False)
        batch_op.create_index('ix_copy_jobs_status', ['status', 'updated_at'], unique=False)


def downgrade():
    op.drop_table('copy_jobs')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_copied_from')
        batch_op.drop_column('copied_from')
