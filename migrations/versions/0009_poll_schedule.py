"""poll.launch_at: a scheduled launch; answer (poll_id, id) for the live results marker

A draft may carry the time the clock should launch it, who scheduled it, and why the last
scheduled launch was refused. Additive: code from before this revision never reads them.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smsapp.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("launch_at", smsapp.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("launch_scheduled_by", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("launch_problem", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_poll_launch_at"), ["launch_at"], unique=False)
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.create_index("ix_answer_poll_id", ["poll_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_poll_id")
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_launch_at"))
        batch_op.drop_column("launch_problem")
        batch_op.drop_column("launch_scheduled_by")
        batch_op.drop_column("launch_at")
