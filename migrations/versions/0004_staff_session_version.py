"""staff session version and the log-in throttle

staff_user.session_version is part of every session cookie, so bumping it ends the account's
sessions (logout, password reset, deactivation). login_throttle counts failed log-in guesses
per e-mail and source, per e-mail and per source, for e-mails with and without an account.
Both are additive: code from before this revision keeps working while a deploy switches over.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smsapp.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "login_throttle",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("until", smsapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "source", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttle_until"), ["until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_until"))
    op.drop_table("login_throttle")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
