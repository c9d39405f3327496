"""growth_tag: a facilitator's tag on a year review's free-text answer

The year review's results page draws the tree of growth from the choice answers and from the
free-text answers a facilitator tags roots, trunk or branches. Additive: code from before this
revision never reads the table.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smsapp.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "growth_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=10), nullable=False),
        sa.Column("tagged_by", sa.String(length=254), nullable=False),
        sa.Column("tagged_at", smsapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answer.id"],
            name=op.f("fk_growth_tag_answer_id_answer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["poll.id"],
            name=op.f("fk_growth_tag_poll_id_poll"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_growth_tag")),
        sa.UniqueConstraint("answer_id", name=op.f("uq_growth_tag_answer_id")),
    )
    with op.batch_alter_table("growth_tag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_growth_tag_poll_id"), ["poll_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("growth_tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_growth_tag_poll_id"))
    op.drop_table("growth_tag")
