"""What both ways of receiving a text share: the text, what receiving it did, and the one
reply an unknown number gets a day (receive.py is the full path, lean.py the lean one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from smsapp.models import UnknownSenderReply

MAX_BODY = 1600  # Twilio's own cap for one inbound message
UNKNOWN_REPLY_INTERVAL = timedelta(days=1)
UNKNOWN_REPLY = (
    "Hi! This number isn't linked to a group yet. If you think it should be, please ask "
    "your group leader. Reply STOP to stop texts."
)


@dataclass(frozen=True)
class InboundText:
    message_sid: str
    sender: str
    body: str
    to: str | None = None
    # The admin page's pretend phone names its participant directly: it has no number.
    participant_id: int | None = None


@dataclass
class Received:
    """What receiving one text did: the replies to send inline, and the route it took."""

    replies: list[str] = field(default_factory=list)
    route: str = ""
    duplicate: bool = False
    participant_id: int | None = None


def upsert(db: Connection | Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT with ON CONFLICT (PostgreSQL and SQLite both have it)."""
    name = db.get_bind().dialect.name if isinstance(db, Session) else db.dialect.name
    return postgresql.insert(table) if name == "postgresql" else sqlite.insert(table)


def claim_unknown_reply(db: Connection | Session, sender_index: str, now: datetime) -> bool:
    """True when this unknown number may get its reply now (at most one a day), recording it.

    One statement: the row is inserted, or moved on when the last reply is a day old; two
    texts at once from one number wait on the row, and only the first gets the reply.
    """
    insert = upsert(db, UnknownSenderReply).values(sender_index=sender_index, last_replied_at=now)
    stmt = insert.on_conflict_do_update(
        index_elements=[UnknownSenderReply.sender_index],
        set_={"last_replied_at": insert.excluded.last_replied_at},
        where=UnknownSenderReply.last_replied_at <= now - UNKNOWN_REPLY_INTERVAL,
    ).returning(UnknownSenderReply.sender_index)
    return db.execute(stmt).first() is not None
