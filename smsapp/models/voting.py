"""Nominations (moderated before any ballot), stored tallies (reproducible from ballots) and
"Tally now" requests with their progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from smsapp.db import Base, UTCDateTime, utcnow


class NominationStatus:
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"  # never reaches a ballot or a results page
    MERGED = "merged"  # folded into another nomination (merged_into_id)


class Nomination(Base):
    __tablename__ = "nomination"
    __table_args__ = (sa.UniqueConstraint("poll_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("poll.id", ondelete="CASCADE"), index=True)
    question_key: Mapped[str] = mapped_column(sa.String(60))
    code: Mapped[str] = mapped_column(sa.String(10))  # N1, N2, … in order of arrival
    text: Mapped[str] = mapped_column(sa.String(200))
    participant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="SET NULL")
    )
    answer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("answer.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(sa.String(10), default=NominationStatus.PENDING)
    merged_into_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("nomination.id", ondelete="SET NULL")
    )
    moderated_by: Mapped[str | None] = mapped_column(sa.String(254))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TallyRun(Base):
    """One count of one question by one method, stored whole so anyone can check it."""

    __tablename__ = "tally_run"
    __table_args__ = (sa.Index("ix_tally_run_poll_question", "poll_id", "question_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("poll.id", ondelete="CASCADE"))
    question_key: Mapped[str] = mapped_column(sa.String(60))
    method: Mapped[str] = mapped_column(sa.String(12))
    provisional: Mapped[bool] = mapped_column(sa.Boolean, default=True)  # False: the final count
    seed: Mapped[str] = mapped_column(sa.String(80))
    ballots: Mapped[int] = mapped_column(sa.Integer)
    input_sha256: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[str] = mapped_column(sa.String(40))
    # TallyResult.to_json_dict(): method, ballots, order, winners, scores, rounds, tie_breaks, …
    result: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    consensus: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)  # the Schulze check
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TallyRequestStatus:
    QUEUED = "queued"  # waiting for the tally job
    RUNNING = "running"  # the job has it
    DONE = "done"
    FAILED = "failed"


class TallyRequest(Base):
    """A "Tally now" press: the count itself runs in the tally job, and this row is its progress
    for the page (and lets the clock find a request whose queue entry was lost)."""

    __tablename__ = "tally_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("poll.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(254))  # the audit actor of the count
    status: Mapped[str] = mapped_column(sa.String(10), default=TallyRequestStatus.QUEUED)
    runs: Mapped[int | None] = mapped_column(sa.Integer)  # counts stored (or kept) when done
    final: Mapped[bool | None] = mapped_column(sa.Boolean)  # when done: final or provisional
    error: Mapped[str | None] = mapped_column(sa.Text)  # why it failed, in staff words
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
