"""One open recording per conference room, kept by the database: a partial unique index over the
rows asked for and not yet due (the room not left). Two first participants deciding at once can
no longer both catalogue one.

A database that already holds such twins keeps the first of each room open; the others are made
due at once (expected_by = requested_at), so the sweeper proves or marks them as it does any
recording past its deadline.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 08:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

OPEN = "conference_id IS NOT NULL AND status = 'requested' AND expected_by IS NULL"


def upgrade():
    op.execute(sa.text(
        f"UPDATE recordings SET expected_by = requested_at WHERE {OPEN} AND EXISTS ("
        "SELECT 1 FROM recordings AS first WHERE first.conference_id = recordings.conference_id "
        "AND first.status = 'requested' AND first.expected_by IS NULL "
        "AND (first.requested_at < recordings.requested_at "
        "OR (first.requested_at = recordings.requested_at AND first.id < recordings.id)))"))
    op.create_index('ux_recordings_room_open', 'recordings', ['conference_id'], unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade():
    op.drop_index('ux_recordings_room_open', table_name='recordings')
