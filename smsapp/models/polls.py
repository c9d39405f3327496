"""Polls, the conversations that run them, and the answers they collect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from smsapp.db import Base, UTCDateTime, utcnow


class PollStatus:
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class ConversationStatus:
    WAITING = "waiting"  # invited while another conversation was open; starts when it ends
    OPEN = "open"
    FINISHED = "finished"
    LEFT = "left"  # LEAVE
    EXPIRED = "expired"
    CLOSED = "closed"  # the poll closed first
    STOPPED = "stopped"  # STOP or WITHDRAW
    ENDED = (FINISHED, LEFT, EXPIRED, CLOSED, STOPPED)


class Poll(Base):
    __tablename__ = "poll"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("participant_group.id", ondelete="SET NULL"), index=True
    )
    keyword: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=PollStatus.DRAFT)
    # The validated definition (poll_to_dict); frozen once the poll is launched. Deferred:
    # a long poll's JSON is big, and load_definition parses it once per process per version.
    definition: Mapped[dict[str, Any]] = mapped_column(sa.JSON, deferred=True)
    source_yaml: Mapped[str | None] = mapped_column(sa.Text, deferred=True)
    tie_seed: Mapped[str] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A scheduled launch: the clock launches the draft once this time has come (through the one
    # launch use case, quiet hours and all). Cleared by the claim that launches it, by a launch
    # by hand, and by cancelling; launch_problem says why the last scheduled launch was refused.
    launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    launch_scheduled_by: Mapped[str | None] = mapped_column(sa.String(254))
    launch_problem: Mapped[str | None] = mapped_column(sa.Text)


class Conversation(Base):
    __tablename__ = "conversation"
    __table_args__ = (
        sa.UniqueConstraint("poll_id", "participant_id"),
        # At most one open conversation per participant, enforced by the database itself.
        sa.Index(
            "uq_conversation_one_open",
            "participant_id",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),
        sa.Index("ix_conversation_reminder", "status", "next_reminder_at"),
        # A participant's conversations, open or not (migration 0007).
        sa.Index("ix_conversation_participant", "participant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("poll.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(sa.ForeignKey("participant.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(10))
    state: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    started_by: Mapped[str] = mapped_column(sa.String(10))  # keyword | launch
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminders_sent: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Answer(Base):
    __tablename__ = "answer"
    __table_args__ = (
        sa.Index("ix_answer_poll_question", "poll_id", "question_key"),
        # The order exports stream a poll's answers in: no sort before the first row.
        sa.Index("ix_answer_poll_order", "poll_id", "conversation_id", "answered_at", "id"),
        # The live results page's version marker: a poll's newest answer, one index probe.
        sa.Index("ix_answer_poll_id", "poll_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("poll.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    question_key: Mapped[str] = mapped_column(sa.String(60))
    kind: Mapped[str] = mapped_column(sa.String(12))
    value: Mapped[Any] = mapped_column(sa.JSON)
    label: Mapped[str | None] = mapped_column(sa.Text)
    raw_text: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=1)
    skipped: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    skip_reason: Mapped[str | None] = mapped_column(sa.String(20))
    # A later ballot replaces an earlier one; both are kept for audit.
    superseded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    inbound_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("inbound_message.id", ondelete="SET NULL")
    )
