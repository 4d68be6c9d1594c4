"""catalogue: calls and recordings; decisions in the journal

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:59:36.545545

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calls',
    sa.Column('call_id', sa.String(length=256), nullable=False),
    sa.Column('application_key', sa.String(length=128), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=True),
    sa.Column('ruleset_hash', sa.String(length=64), nullable=True),
    sa.Column('decision', sa.JSON(), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=True),
    sa.Column('consent', sa.String(length=16), nullable=False),
    sa.Column('consent_evidence', sa.JSON(), nullable=True),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=64), nullable=True),
    sa.Column('end_result', sa.String(length=32), nullable=True),
    sa.Column('duration_s', sa.Integer(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('call_id')
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_started_at', ['started_at'], unique=False)

    op.create_table('recordings',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('call_id', sa.String(length=256), nullable=False),
    sa.Column('conference_id', sa.String(length=64), nullable=True),
    sa.Column('segment', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=True),
    sa.Column('destination', sa.String(length=64), nullable=True),
    sa.Column('destination_url', sa.String(length=1024), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('content_type', sa.String(length=128), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('transcription_url', sa.String(length=1024), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('destination_url')
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index('ix_recordings_call_id', ['call_id', 'segment'], unique=False)
        batch_op.create_index('ix_recordings_requested_at', ['requested_at', 'id'], unique=False)
        batch_op.create_index('ix_recordings_rule_id', ['rule_id', 'requested_at'], unique=False)
        batch_op.create_index('ix_recordings_status', ['status', 'requested_at'], unique=False)

    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('decision', sa.JSON(), nullable=True))



def downgrade():
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_column('decision')
        batch_op.drop_column('rule_id')

    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_status')
        batch_op.drop_index('ix_recordings_rule_id')
        batch_op.drop_index('ix_recordings_requested_at')
        batch_op.drop_index('ix_recordings_call_id')

    op.drop_table('recordings')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_started_at')

    op.drop_table('calls')
