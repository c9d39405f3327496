"""drop free_text_moderation

The table held staff decisions to show a free-text answer to a group, but no page, command or
job ever showed free text to a group or wrote a decision: the feature was never finished, and
free text now goes only to the research exports. Nominations have their own moderation
(nomination.status). Downgrade recreates the empty table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smsapp.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("free_text_moderation")


def downgrade() -> None:
    op.create_table(
        "free_text_moderation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("moderated_by", sa.String(length=254), nullable=False),
        sa.Column("moderated_at", smsapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answer.id"],
            name=op.f("fk_free_text_moderation_answer_id_answer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_free_text_moderation")),
        sa.UniqueConstraint("answer_id", name=op.f("uq_free_text_moderation_answer_id")),
    )
