"""The group's record: a facilitator's tag putting a year review's free-text answer on the tree
of growth (roots, trunk or branches)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from smsapp.db import Base, UTCDateTime, utcnow


class GrowthTag(Base):
    __tablename__ = "growth_tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One tag per answer; erasing the answer (withdrawal) erases its tag with it.
    answer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("answer.id", ondelete="CASCADE"), unique=True
    )
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("poll.id", ondelete="CASCADE"), index=True)
    part: Mapped[str] = mapped_column(sa.String(10))  # roots | trunk | branches
    tagged_by: Mapped[str] = mapped_column(sa.String(254))
    tagged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
