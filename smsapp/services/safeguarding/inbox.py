"""The safeguarding lead's inbox: flags newest first with what matched, the open and overdue
counts for the dashboard badge, and acknowledging a flag with a note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import InboundMessage, Participant, SafeguardingFlag
from smsapp.safeguarding.phrases import LABELS
from smsapp.services import audit


@dataclass
class FlagView:
    id: int
    categories: list[str]
    labels: list[str]
    matched: list[dict[str, str]]
    body: str
    pseudonym: str | None
    participant_id: int | None
    created_at: datetime
    due_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None
    overdue: bool

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


def list_flags(
    session: Session, *, open_only: bool = False, now: datetime | None = None, limit: int = 200
) -> list[FlagView]:
    """Newest first; open ones before acknowledged ones."""
    now = now or utcnow()
    stmt = (
        sa.select(SafeguardingFlag, InboundMessage.body, Participant.pseudonym)
        .join(InboundMessage, InboundMessage.id == SafeguardingFlag.inbound_message_id)
        .outerjoin(Participant, Participant.id == SafeguardingFlag.participant_id)
        .order_by(
            SafeguardingFlag.acknowledged_at.is_not(None),
            SafeguardingFlag.created_at.desc(),
            SafeguardingFlag.id.desc(),
        )
        .limit(limit)
    )
    if open_only:
        stmt = stmt.where(SafeguardingFlag.acknowledged_at.is_(None))
    views = []
    for flag, body, pseudonym in session.execute(stmt).all():
        views.append(
            FlagView(
                id=flag.id,
                categories=list(flag.categories or []),
                labels=[LABELS.get(c, c) for c in flag.categories or []],
                matched=list(flag.matched or []),
                body=body or "",
                pseudonym=pseudonym,
                participant_id=flag.participant_id,
                created_at=flag.created_at,
                due_at=flag.due_at,
                acknowledged_by=flag.acknowledged_by,
                acknowledged_at=flag.acknowledged_at,
                note=flag.note,
                overdue=flag.acknowledged_at is None and flag.due_at <= now,
            )
        )
    return views


def open_flag_counts(session: Session, now: datetime | None = None) -> tuple[int, int]:
    """(open, overdue) for the dashboard badge."""
    now = now or utcnow()
    row = session.execute(
        sa.select(
            sa.func.count(SafeguardingFlag.id),
            sa.func.count(SafeguardingFlag.id).filter(SafeguardingFlag.due_at <= now),
        ).where(SafeguardingFlag.acknowledged_at.is_(None))
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


class FlagError(ValueError):
    pass


def acknowledge(session: Session, flag_id: int, *, by: str, note: str) -> SafeguardingFlag:
    """The lead has seen it and says what was done; the note is required and kept."""
    note = note.strip()
    if not note:
        raise FlagError("write a short note: what you did or decided")
    flag = session.get(SafeguardingFlag, flag_id)
    if flag is None:
        raise FlagError("no such flag")
    if flag.acknowledged_at is not None:
        raise FlagError(f"already acknowledged by {flag.acknowledged_by}")
    now = utcnow()
    flag.acknowledged_at = now
    flag.acknowledged_by = by
    flag.note = note[:4000]
    audit.record(session, by, "safeguarding.acknowledge", str(flag.id), late=flag.due_at <= now)
    return flag
