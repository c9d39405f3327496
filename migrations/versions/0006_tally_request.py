"""tally_request: a "Tally now" press and its progress

The button used to count inside the web request; now it records a request, the tally job runs
it, and the page shows queued / running / done from this row. Additive: code from before this
revision never reads the table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smsapp.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tally_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", smsapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", smsapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", smsapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["poll.id"],
            name=op.f("fk_tally_request_poll_id_poll"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tally_request")),
    )
    with op.batch_alter_table("tally_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tally_request_poll_id"), ["poll_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tally_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tally_request_poll_id"))
    op.drop_table("tally_request")
