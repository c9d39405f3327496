"""What both ways of receiving a text share: the text, what receiving it did, and the one
reply an unknown number gets a day (receive.py is the full path, lean.py the lean one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
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


def claim_unknown_reply(db: Connection | Session, sender_index: str, now: datetime) -> bool:
    """True when this unknown number may get its reply now (at most one a day), recording it.

    One statement: the row is inserted, or moved on when the last reply is a day old; two
    texts at once from one number wait on the row, and only the first gets the reply.
    """
    name = db.get_bind().dialect.name if isinstance(db, Session) else db.dialect.name
    return db.execute(claim_statement(name), claim_params(sender_index, now)).first() is not None


def claim_params(sender_index: str, now: datetime) -> dict[str, Any]:
    """The parameters of `claim_statement` (the lean path runs it on psycopg directly)."""
    return {"sender_index": sender_index, "now": now, "cutoff": now - UNKNOWN_REPLY_INTERVAL}


@lru_cache(maxsize=4)
def claim_statement(dialect: str) -> Any:
    """The claim statement, built once per dialect (it runs for every unknown number's text)."""
    table = UnknownSenderReply.__table__.c
    when = sa.bindparam("now", type_=table.last_replied_at.type)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        UnknownSenderReply
    ).values(sender_index=sa.bindparam("sender_index"), last_replied_at=when)
    return insert.on_conflict_do_update(
        index_elements=[UnknownSenderReply.sender_index],
        set_={"last_replied_at": insert.excluded.last_replied_at},
        where=UnknownSenderReply.last_replied_at
        <= sa.bindparam("cutoff", type_=table.last_replied_at.type),
    ).returning(UnknownSenderReply.sender_index)
