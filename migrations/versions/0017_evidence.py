"""The transparency log (issue 28): its leaves (with what each event concerns, so that a bundle
outlives the event log's retention), the hashes of its perfect subtrees, the signed tree heads,
and two rows in event_sequence: the appender's (``last``: the tree's size; updating it first is
the appender's lock) and the publisher's (``last``: the largest tree head written to the
ruleset's evidence destination). Recordings keep the hash of the ruleset that decided them, so
that their events, and the log, say it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'evidence_leaves',
        sa.Column('leaf_index', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('entry', sa.LargeBinary(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('recording_id', sa.String(length=32), nullable=True),
        sa.Column('call_id', sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint('leaf_index'),
        sa.UniqueConstraint('event_id'),
        sa.UniqueConstraint('seq'),
    )
    op.create_index('ix_evidence_leaves_recording_id', 'evidence_leaves', ['recording_id'])
    op.create_index('ix_evidence_leaves_consent', 'evidence_leaves', ['call_id'],
                    sqlite_where=sa.text("type = 'call.consent'"), postgresql_where=sa.text("type = 'call.consent'"))
    op.create_table(
        'evidence_nodes',
        sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'evidence_tree_heads',
        sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('timestamp', sa.BigInteger(), nullable=False),
        sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('log_id', sa.String(length=64), nullable=False),
        sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint('tree_size'),
    )
    sequence = sa.table('event_sequence', sa.column('name', sa.String), sa.column('last', sa.BigInteger))
    op.bulk_insert(sequence, [{'name': 'evidence', 'last': 0}, {'name': 'evidence_copies', 'last': 0}])
    with op.batch_alter_table('recordings') as batch:
        batch.add_column(sa.Column('ruleset_hash', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('recordings') as batch:
        batch.drop_column('ruleset_hash')
    op.execute("DELETE FROM event_sequence WHERE name IN ('evidence', 'evidence_copies')")
    op.drop_table('evidence_tree_heads')
    op.drop_table('evidence_nodes')
    op.drop_table('evidence_leaves')
