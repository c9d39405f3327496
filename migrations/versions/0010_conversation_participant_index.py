"""conversation (participant_id): find a participant's conversations without a table scan

Every text from someone with nothing open asks whether they ever had a conversation (the
inbound lean path), their latest finished one (a changed ballot) or a recently closed one; the
only indexes led with poll_id or covered open conversations alone, so each of these scanned the
whole table, which grows by a school year with every launch. Additive.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conversation_participant", "conversation", ["participant_id"])


def downgrade() -> None:
    op.drop_index("ix_conversation_participant", table_name="conversation")
