"""Build outbound rows: the one place that says what a text's row holds, for every path.

Launch (bulk, COPY on PostgreSQL), reminders, results, the closed-poll invitations, inline TwiML
replies and the withdrawal confirmation all take their column values from ``outbound_row``; the
segments are counted here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import OutboundMessage, OutboundStatus
from smsapp.sms.segments import count_segments

# Later parts of one message wait a little, so a phone shows them in order.
PART_GAP = timedelta(seconds=5)
# Texts that only make sense while their conversation runs: a reminder deferred overnight is
# dropped if the young person finished (or left, or said STOP) in the meantime.
CONVERSATION_BOUND_KINDS = frozenset({"invitation", "reminder"})


@lru_cache(maxsize=1024)
def segments_of(body: str) -> int:
    """A text's billed segments. Cached: a launch repeats a few distinct bodies many times."""
    return count_segments(body).segments


def outbound_row(
    *,
    participant_id: int | None,
    kind: str,
    body: str,
    backend: str,
    poll_id: int | None = None,
    conversation_id: int | None = None,
    in_reply_to_id: int | None = None,
    send_after: datetime | None = None,
    deferred: bool = False,
    valid_until: datetime | None = None,
    sent: bool = False,
    now: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of one outbound text, ready for ``OutboundMessage(**row)`` or a bulk
    insert (every row has the same keys, so a COPY can take a list of them).

    ``sent``: the text went out as the row is written (an inline TwiML reply, a confirmation
    sent in the same request), so it is recorded as sent, after one attempt. Otherwise it is
    queued for the send jobs from ``send_after`` (default now).
    """
    now = now or utcnow()
    return {
        "participant_id": participant_id,
        "poll_id": poll_id,
        "conversation_id": conversation_id,
        "in_reply_to_id": in_reply_to_id,
        "kind": kind,
        "body": body,
        "segments": segments_of(body),
        "backend": backend,
        "status": OutboundStatus.SENT if sent else OutboundStatus.QUEUED,
        "send_after": send_after or now,
        "deferred": deferred,
        "valid_until": valid_until,
        "attempts": 1 if sent else 0,
        "sent_at": now if sent else None,
        "created_at": now,
        "updated_at": now,
        # A caller writing many rows may share one (never mutated) value: COPY encodes it once.
        "extra": {} if extra is None else extra,
    }


def parts(texts: Sequence[str], send_after: datetime) -> Iterator[tuple[str, datetime]]:
    """Each part of a message with the time it may go: one PART_GAP after the one before."""
    for index, body in enumerate(texts):
        yield body, send_after + PART_GAP * index


def queue_texts(
    session: Session,
    *,
    participant_id: int,
    poll_id: int | None,
    conversation_id: int | None,
    kind: str,
    texts: list[str] | tuple[str, ...],
    backend: str,
    send_after: datetime,
    deferred: bool,
    valid_until: datetime | None = None,
) -> list[OutboundMessage]:
    """Queue texts for one participant; later parts wait a little so they arrive in order."""
    rows = [
        OutboundMessage(
            **outbound_row(
                participant_id=participant_id,
                poll_id=poll_id,
                conversation_id=conversation_id,
                kind=kind,
                body=body,
                backend=backend,
                send_after=at,
                deferred=deferred,
                valid_until=valid_until,
            )
        )
        for body, at in parts(texts, send_after)
    ]
    session.add_all(rows)
    return rows
