"""early_status: a delivery callback that overtakes its send's outcome is kept, not dropped

Sends run on threads and a batch's outcomes (with each text's Twilio SID) are written in one
statement when the batch ends, up to a second after Twilio answered; a fast "sent" or even
"delivered" callback could arrive first, find no row with its SID and be lost, leaving the
text "sent" for ever. Such a callback is now kept here and applied when the outcome is written.
Additive.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smsapp.db import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_status",
        sa.Column("message_sid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_sid", name=op.f("pk_early_status")),
    )
    op.create_index(op.f("ix_early_status_received_at"), "early_status", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_early_status_received_at"), table_name="early_status")
    op.drop_table("early_status")
