"""Every text in and out. The inbound log is written before anything acts on a text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from smsapp.db import Base, UTCDateTime, utcnow


class OutboundStatus:
    QUEUED = "queued"  # due at send_after, not yet claimed by a worker
    SENDING = "sending"  # claimed; the API call may or may not have happened
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"  # never sent: opted out, poll closed, superseded

    # How far along a message is: a callback may move it forward, never back.
    RANK = {
        QUEUED: 0,
        "accepted": 0,
        "scheduled": 0,
        SENDING: 1,
        SENT: 2,
        DELIVERED: 4,
        UNDELIVERED: 4,
        FAILED: 4,
        "read": 5,
        CANCELLED: 9,
    }
    FINAL = {DELIVERED, UNDELIVERED, FAILED, CANCELLED, "read"}


class InboundMessage(Base):
    __tablename__ = "inbound_message"
    __table_args__ = (sa.Index("ix_inbound_sender_received", "sender_index", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    participant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="SET NULL"), index=True
    )
    sender_index: Mapped[str | None] = mapped_column(sa.String(64))  # keyed HMAC of From
    body: Mapped[str] = mapped_column(sa.Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The replies sent inline, so that a repeated webhook is answered exactly as the first time.
    replies: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    route: Mapped[str | None] = mapped_column(sa.String(30))  # stop, start, help, poll, …
    conversation_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    error: Mapped[str | None] = mapped_column(sa.Text)
    flagged: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class OutboundMessage(Base):
    __tablename__ = "outbound_message"
    __table_args__ = (sa.Index("ix_outbound_due", "status", "send_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="SET NULL"), index=True
    )
    poll_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    conversation_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("inbound_message.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(sa.String(20))  # reply, invitation, reminder, results, …
    body: Mapped[str] = mapped_column(sa.Text)
    segments: Mapped[int] = mapped_column(sa.Integer, default=1)
    backend: Mapped[str] = mapped_column(sa.String(10))  # twiml, twilio, outbox
    status: Mapped[str] = mapped_column(sa.String(16), default=OutboundStatus.QUEUED)
    twilio_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(sa.Integer)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deferred: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # held by quiet hours
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    extra: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class EarlyStatus(Base):
    """A delivery status callback that arrived before its send's outcome was written (the SID is
    stored with the outcome, a moment after Twilio's answer, and a fast "sent" can overtake it).
    Kept until that outcome is written, then applied like any callback (outbox/callbacks.py);
    one never matched is dropped after a day. No number: Twilio's words are redacted."""

    __tablename__ = "early_status"

    message_sid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    error_code: Mapped[int | None] = mapped_column(sa.Integer)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class UnknownSenderReply(Base):
    """When an unknown number was last answered, so it gets at most one reply a day."""

    __tablename__ = "unknown_sender_reply"

    sender_index: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    last_replied_at: Mapped[datetime] = mapped_column(UTCDateTime)
