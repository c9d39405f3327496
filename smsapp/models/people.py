"""Young participants, the groups they belong to, and consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from smsapp.db import Base, UTCDateTime, utcnow


class ParticipantStatus:
    ACTIVE = "active"
    OPTED_OUT = "opted-out"
    WITHDRAWN = "withdrawn"
    ERASED = "erased"
    ALL = (ACTIVE, OPTED_OUT, WITHDRAWN, ERASED)


class NumberStatus:
    OK = "ok"
    INVALID = "invalid"  # Twilio said the number cannot receive texts (21211, 21614, 21612)


class Participant(Base):
    __tablename__ = "participant"

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(sa.String(16), unique=True)
    # The number itself is never stored in clear: AES-GCM ciphertext plus a keyed HMAC index.
    phone_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    phone_index: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    phone_masked: Mapped[str | None] = mapped_column(sa.String(32))
    nickname: Mapped[str | None] = mapped_column(sa.String(60))
    age_band: Mapped[str | None] = mapped_column(sa.String(20))
    language: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(16), default=ParticipantStatus.ACTIVE)
    number_status: Mapped[str] = mapped_column(sa.String(16), default=NumberStatus.OK)
    number_error: Mapped[int | None] = mapped_column(sa.Integer)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_by: Mapped[str | None] = mapped_column(sa.String(200))
    consent_method: Mapped[str | None] = mapped_column(sa.String(40))
    assent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assent_method: Mapped[str | None] = mapped_column(sa.String(40))  # in-person | text
    assent_by: Mapped[str | None] = mapped_column(sa.String(254))  # the facilitator, or "text"
    # Withdrawal erases the number and nickname; erased_at is when the number went (either way).
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last START/UNSTOP: a delivery error about a text sent before it is out of date.
    opted_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The admin page's pretend phone: never texted, never in results or exports.
    simulated: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    memberships: Mapped[list[GroupMembership]] = relationship(back_populates="participant")

    @property
    def has_consent(self) -> bool:
        return self.consent_at is not None

    @property
    def display_name(self) -> str:
        return self.nickname or self.pseudonym


class Group(Base):
    __tablename__ = "participant_group"  # "group" is an SQL keyword

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Policy per group: quiet hours, whether assent by text is required, what withdrawal keeps.
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[GroupMembership]] = relationship(back_populates="group")


class GroupMembership(Base):
    __tablename__ = "group_membership"
    __table_args__ = (sa.UniqueConstraint("group_id", "participant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("participant_group.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    group: Mapped[Group] = relationship(back_populates="memberships")
    participant: Mapped[Participant] = relationship(back_populates="memberships")
