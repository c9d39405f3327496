"""The responses exports through SQLAlchemy Core, for any database: long (one row per answer,
with paradata) and wide (one row per participant). PostgreSQL writes the long file faster by
responses_pg; tests/integration/test_export_bytes.py holds the two to the same bytes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import PollDefinition
from smsapp.formats import cells
from smsapp.models import Answer, Conversation, OutboundMessage, OutboundStatus, Participant, Poll
from smsapp.services.research.answers import counted_answers
from smsapp.services.research.exports.reading import (
    CELL_CACHE,
    Row,
    answer_cells,
    iso,
    raw_time,
    stream,
    utc_session,
    value_json,
)


def _reminder_times(session: Session, poll: Poll) -> Generator[tuple[int, datetime]]:
    """(conversation id, when) of every reminder of the poll, in conversation order."""
    stmt = (
        sa.select(OutboundMessage.conversation_id, raw_time(OutboundMessage.created_at))
        .where(
            OutboundMessage.poll_id == poll.id,
            OutboundMessage.kind == "reminder",
            OutboundMessage.status != OutboundStatus.CANCELLED,
            OutboundMessage.conversation_id.is_not(None),
        )
        .order_by(OutboundMessage.conversation_id, OutboundMessage.created_at)
    )
    has_any = session.scalar(sa.select(sa.exists(stmt.with_only_columns(OutboundMessage.id))))
    if has_any:
        yield from stream(session, stmt)


def _by_conversation(
    reminders: Iterator[tuple[int, datetime]],
) -> Callable[[int], list[datetime]]:
    """Merge-join helper: ask for conversations in ascending order, get their reminder times.

    Both streams are sorted by conversation, so only one conversation's reminders are ever
    held: memory stays constant however large the poll.
    """
    pending: list[tuple[int, datetime] | None] = [next(reminders, None)]

    def times(conversation_id: int) -> list[datetime]:
        found: list[datetime] = []
        head = pending[0]
        while head is not None and head[0] <= conversation_id:
            if head[0] == conversation_id:
                found.append(head[1])
            head = next(reminders, None)
        pending[0] = head
        return found

    return times


@dataclass
class _Paradata:
    """Per-conversation state while streaming: when the current question was sent."""

    conversation_id: int = -1
    asked_at: datetime | None = None
    reminders: list[datetime] = field(default_factory=list)


def response_rows(session: Session, poll: Poll) -> Iterator[Row]:
    """Long responses: the public interface's columns then the paradata, one row per kept answer."""
    stmt = (
        counted_answers(
            session,
            Answer.conversation_id,
            Participant.pseudonym,
            Answer.question_key,
            Answer.kind,
            value_json(),
            Answer.label,
            Answer.raw_text,
            raw_time(Answer.answered_at),
            Answer.attempts,
            Answer.skipped,
            raw_time(Conversation.invited_at),
            raw_time(Conversation.created_at),
            poll=poll.id,
        )
        .join(Conversation, Conversation.id == Answer.conversation_id)
        .order_by(Answer.conversation_id, Answer.answered_at, Answer.id)
    )
    utc_session(session)
    reminders = _reminder_times(session, poll)
    try:
        yield from _long_rows(session, poll, stmt, _by_conversation(reminders))
    finally:
        reminders.close()  # the merge join may stop before the last reminders


def _long_rows(
    session: Session,
    poll: Poll,
    stmt: sa.Select[*tuple[Any, ...]],
    reminders_of: Callable[[int], list[datetime]],
) -> Iterator[Row]:
    state = _Paradata()
    slug = poll.slug
    answer_cell = answer_cells()
    text_cell = functools.lru_cache(maxsize=CELL_CACHE)(cells.safe_text)
    invited = ""
    for (
        conversation_id,
        pseudonym,
        key,
        kind,
        value,
        label,
        raw_text,
        answered_at,
        attempts,
        skipped,
        invited_at,
        started_at,
    ) in stream(session, stmt):
        if conversation_id != state.conversation_id:
            reminders = reminders_of(conversation_id)
            state = _Paradata(conversation_id, invited_at or started_at, reminders)
            invited = iso(invited_at)
        asked_at = state.asked_at
        nudges = 0
        if state.reminders:
            nudges = sum(
                1 for at in state.reminders if asked_at is None or asked_at < at <= answered_at
            )
        seconds = round((answered_at - asked_at).total_seconds()) if asked_at else ""
        state.asked_at = answered_at
        yield [
            pseudonym,
            slug,
            key,
            kind,
            "" if skipped else answer_cell(kind, value),
            "" if skipped else text_cell(label),
            text_cell(raw_text),
            iso(answered_at),
            attempts,
            invited,
            nudges,
            seconds,
            1 if skipped else 0,
        ]


def wide_rows(session: Session, poll: Poll, defn: PollDefinition) -> Iterator[Row]:
    """One row per participant, one column per question (in the poll's order)."""
    keys = [q.key for q in defn.questions]
    at = {key: i for i, key in enumerate(keys, start=1)}
    stmt = counted_answers(
        session,
        Answer.conversation_id,
        Participant.pseudonym,
        Answer.question_key,
        Answer.kind,
        value_json(),
        Answer.skipped,
        poll=poll.id,
    ).order_by(Answer.conversation_id, Answer.answered_at, Answer.id)
    answer_cell = answer_cells()
    current: int | None = None
    row: Row = []
    for conversation_id, pseudonym, key, kind, value, skipped in stream(session, stmt):
        if conversation_id != current:
            if current is not None:
                yield row
            current = conversation_id
            row = [pseudonym] + [""] * len(keys)
        if key in at and not skipped:
            row[at[key]] = answer_cell(kind, value)
    if current is not None:
        yield row
