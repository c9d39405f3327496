"""Reminders: a nudge with the current question to those who have not finished a poll.

Per poll `reminders: {after, every, max}`. Conversation.next_reminder_at says when the next one
is due; ending a conversation clears it, so finishers, leavers and STOPs get none. A reminder
due in quiet hours is queued for the next allowed time (marked deferred), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from smsapp.conversation import engine
from smsapp.conversation.definition import PollDefinition
from smsapp.db import utcnow
from smsapp.models import (
    Conversation,
    ConversationStatus,
    NumberStatus,
    Participant,
    ParticipantStatus,
    Poll,
    PollStatus,
)
from smsapp.runtime import Runtime
from smsapp.services.outbox.rows import queue_texts
from smsapp.services.people.group_policy import group_quiet_hours, send_time
from smsapp.services.polls.definitions import load_definition

BATCH = 500


def first_reminder_at(
    defn: PollDefinition, invited_at: datetime, finished: bool
) -> datetime | None:
    """When the first reminder of a conversation is due: ``after`` from when its invitation
    really went out; never for a poll without reminders, nor for a conversation already
    finished (a poll whose questions were all skipped at the start)."""
    reminders = defn.reminders
    if reminders is None or reminders.max <= 0 or finished:
        return None
    return invited_at + reminders.after


def reminder_text(question_text: str, nickname: str | None, title: str) -> str:
    """The nudge: short, friendly, and the question again so a reply needs no scrolling."""
    greeting = engine.render("Hi {nickname}", nickname=nickname)
    return (
        f"{greeting}, just a reminder about \u201c{title}\u201d. We'd love your answer:\n"
        f"{question_text}\n(Reply LEAVE to skip this poll, STOP to stop texts.)"
    )


@dataclass
class ReminderReport:
    queued: int = 0
    deferred: int = 0
    cleared: int = 0


def queue_due_reminders(
    runtime: Runtime, *, now: datetime | None = None, limit: int = BATCH
) -> ReminderReport:
    """Queue one reminder per open conversation whose next reminder is due, and book the next."""
    now = now or utcnow()
    report = ReminderReport()
    with runtime.db.transaction() as session:
        stmt = (
            sa.select(Conversation)
            .join(Poll, Poll.id == Conversation.poll_id)
            .where(
                Conversation.status == ConversationStatus.OPEN,
                Conversation.next_reminder_at.is_not(None),
                Conversation.next_reminder_at <= now,
                Poll.status == PollStatus.OPEN,
            )
            .order_by(Conversation.next_reminder_at, Conversation.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Two jobs at once take different rows; each conversation is reminded once.
            stmt = stmt.with_for_update(skip_locked=True, of=Conversation)
        due = session.scalars(stmt).all()
        polls: dict[int, Poll] = {}
        for conversation in due:
            poll = polls.get(conversation.poll_id) or session.get(Poll, conversation.poll_id)
            assert poll is not None
            polls[poll.id] = poll
            defn = load_definition(poll)
            state = engine.ConversationState.from_dict(conversation.state)
            participant = session.get(Participant, conversation.participant_id)
            settings = defn.reminders
            if (
                settings is None
                or participant is None
                or participant.status != ParticipantStatus.ACTIVE
                or participant.number_status != NumberStatus.OK
                or state.finished
                or state.position >= len(defn.questions)
                or conversation.reminders_sent >= settings.max
            ):
                conversation.next_reminder_at = None
                report.cleared += 1
                continue
            question = defn.questions[state.position]
            body = reminder_text(engine.question_text(question), participant.nickname, poll.title)
            send_after, deferred = send_time(
                now, group_quiet_hours(session, poll.group_id), runtime.settings.timezone
            )
            queue_texts(
                session,
                participant_id=participant.id,
                poll_id=poll.id,
                conversation_id=conversation.id,
                kind="reminder",
                texts=[body],
                backend=runtime.settings.sms_backend,
                send_after=send_after,
                deferred=deferred,
                valid_until=poll.closes_at,
            )
            report.queued += 1
            report.deferred += int(deferred)
            conversation.reminders_sent += 1
            if conversation.reminders_sent >= settings.max:
                conversation.next_reminder_at = None
            else:
                # Counted from the due time, not from a late tick, so the rhythm holds; a tick
                # that is very late (a long outage) does not fire a burst of catch-up reminders.
                base = conversation.next_reminder_at or now
                following = base + settings.every
                conversation.next_reminder_at = (
                    following if following > now else now + (settings.every)
                )
    return report
