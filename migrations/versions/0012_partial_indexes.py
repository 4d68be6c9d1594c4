"""Partial indexes where most rows are left out: the journal's replay flag (only rows still waiting
for their replay) and the calls' room (only calls connected to a room). Every ICE then writes two
index entries fewer; the queries that use them (pending replays, who is in a room) still do.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 17:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# As SQLAlchemy renders the queries' own conditions (replay_pending.is_(True)), so that SQLite,
# which matches a partial index's condition to the query's term by term, can use the index.
PENDING = {'sqlite_where': sa.text('replay_pending IS 1'), 'postgresql_where': sa.text('replay_pending IS true')}
IN_A_ROOM = {'sqlite_where': sa.text('conference_id IS NOT NULL'),
             'postgresql_where': sa.text('conference_id IS NOT NULL')}


def upgrade():
    op.drop_index('ix_journal_replay_pending', table_name='journal')
    op.create_index('ix_journal_replay_pending', 'journal', ['replay_pending'], unique=False, **PENDING)
    op.drop_index('ix_calls_conference_id', table_name='calls')
    op.create_index('ix_calls_conference_id', 'calls', ['conference_id', 'ended_at'], unique=False, **IN_A_ROOM)


def downgrade():
    op.drop_index('ix_calls_conference_id', table_name='calls')
    op.create_index('ix_calls_conference_id', 'calls', ['conference_id', 'ended_at'], unique=False)
    op.drop_index('ix_journal_replay_pending', table_name='journal')
    op.create_index('ix_journal_replay_pending', 'journal', ['replay_pending'], unique=False)
