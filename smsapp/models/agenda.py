"""Young people's own agenda: questions they propose by text (ASK) and the youth leads who may
launch an approved one (SEND) or ask for results by text."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from smsapp.db import Base, UTCDateTime, utcnow


class ProposalStatus:
    WAITING = "waiting"  # for a facilitator
    HELD = "held"  # the safeguarding screen matched it: its words are for the lead only
    APPROVED = "approved"  # a quick poll was made from it (launched or not: see the poll)
    DECLINED = "declined"


class Proposal(Base):
    """One question a participant texted with ASK. Q1, Q2, … per group, in order of arrival."""

    __tablename__ = "proposal"
    __table_args__ = (sa.UniqueConstraint("group_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant_group.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(sa.String(10))
    participant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="SET NULL"), index=True
    )
    inbound_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("inbound_message.id", ondelete="SET NULL")
    )
    # None when held: the words stay in the flagged text, which only the safeguarding role sees.
    text: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default=ProposalStatus.WAITING)
    edited: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    poll_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("poll.id", ondelete="SET NULL"), index=True
    )
    moderated_by: Mapped[str | None] = mapped_column(sa.String(254))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(sa.Text)  # a decline's note, for staff only
    results_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # to the proposer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class YouthLead(Base):
    """A participant a facilitator made a youth lead of a group, with consent recorded.

    Revoking keeps the row (revoked_at) for the record; making them lead again clears it.
    """

    __tablename__ = "youth_lead"
    __table_args__ = (sa.UniqueConstraint("group_id", "participant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant_group.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    can_send: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # may text SEND
    consent_by: Mapped[str] = mapped_column(sa.String(200))
    consent_method: Mapped[str] = mapped_column(sa.String(40))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    appointed_by: Mapped[str] = mapped_column(sa.String(254))
    appointed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(254))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
