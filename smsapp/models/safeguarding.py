"""Safeguarding flags raised by inbound texts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from smsapp.db import Base, UTCDateTime, utcnow


class SafeguardingFlag(Base):
    """One inbound text that matched a safeguarding phrase: open until a lead acknowledges it."""

    __tablename__ = "safeguarding_flag"
    __table_args__ = (sa.Index("ix_safeguarding_flag_open", "acknowledged_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("inbound_message.id", ondelete="CASCADE"), unique=True
    )
    participant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="SET NULL"), index=True
    )
    categories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # [{category, rule, excerpt}]: what matched, so the lead sees why it was flagged.
    matched: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(254))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(sa.Text)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
