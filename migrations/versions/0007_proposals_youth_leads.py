"""proposal, youth_lead: young people's questions (ASK) and youth leads (SEND)

Additive: two new tables; code from before this revision never reads them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smsapp.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("inbound_message_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=True),
        sa.Column("moderated_by", sa.String(length=254), nullable=True),
        sa.Column("moderated_at", smsapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("results_sent_at", smsapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", smsapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["participant_group.id"],
            name=op.f("fk_proposal_group_id_participant_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_message.id"],
            name=op.f("fk_proposal_inbound_message_id_inbound_message"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_proposal_participant_id_participant"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"], ["poll.id"], name=op.f("fk_proposal_poll_id_poll"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal")),
        sa.UniqueConstraint("group_id", "code", name=op.f("uq_proposal_group_id")),
    )
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_proposal_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_proposal_poll_id"), ["poll_id"], unique=False)

    op.create_table(
        "youth_lead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("can_send", sa.Boolean(), nullable=False),
        sa.Column("consent_by", sa.String(length=200), nullable=False),
        sa.Column("consent_method", sa.String(length=40), nullable=False),
        sa.Column("consent_at", smsapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("appointed_by", sa.String(length=254), nullable=False),
        sa.Column("appointed_at", smsapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=254), nullable=True),
        sa.Column("revoked_at", smsapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["participant_group.id"],
            name=op.f("fk_youth_lead_group_id_participant_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_youth_lead_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_youth_lead")),
        sa.UniqueConstraint("group_id", "participant_id", name=op.f("uq_youth_lead_group_id")),
    )
    with op.batch_alter_table("youth_lead", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_youth_lead_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_youth_lead_participant_id"), ["participant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("youth_lead", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_youth_lead_participant_id"))
        batch_op.drop_index(batch_op.f("ix_youth_lead_group_id"))
    op.drop_table("youth_lead")
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_poll_id"))
        batch_op.drop_index(batch_op.f("ix_proposal_participant_id"))
        batch_op.drop_index(batch_op.f("ix_proposal_group_id"))
    op.drop_table("proposal")
