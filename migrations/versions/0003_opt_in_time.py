"""participant.opted_in_at: when the participant last texted START or UNSTOP

A delivery error (21610, recipient opted out) about a text sent before that time is out of date
and no longer opts the participant out.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smsapp.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participant") as batch:
        batch.add_column(
            sa.Column("opted_in_at", smsapp.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("participant") as batch:
        batch.drop_column("opted_in_at")
