"""Reminders go only to those who have not finished, at most `max` times, never in quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from smsapp.models import Conversation, ConversationStatus, OutboundStatus, Participant, Poll
from smsapp.runtime import Runtime
from smsapp.services.people.optout import opt_out
from smsapp.services.polls.conversations import end_conversation
from smsapp.services.polls.reminders import queue_due_reminders
from tests.support.factories import NOON, launch, make_poll, messages, people, send_all

DAY = timedelta(days=1)


def conversation_of(s: sa.orm.Session, pid: int) -> Conversation:
    found = s.scalar(sa.select(Conversation).where(Conversation.participant_id == pid))
    assert found is not None
    return found


def test_reminders_only_to_non_finishers_and_at_most_max(runtime: Runtime) -> None:
    make_poll(runtime)
    finished, left, stopped, answered_one, silent = people(runtime, 5)
    launch(runtime)
    send_all(runtime, NOON)
    with runtime.db.transaction() as s:
        end_conversation(conversation_of(s, finished), ConversationStatus.FINISHED, NOON)
        end_conversation(conversation_of(s, left), ConversationStatus.LEFT, NOON)
        participant = s.get(Participant, stopped)
        assert participant is not None
        opt_out(s, participant, reason="texted STOP")
        conversation_of(s, answered_one).state = {"position": 1, "answers": {"name": "A"}}

    assert queue_due_reminders(runtime, now=NOON + DAY - timedelta(minutes=1)).queued == 0
    first = queue_due_reminders(runtime, now=NOON + DAY)
    assert first.queued == 2 and first.deferred == 0
    reminders = messages(runtime, kind="reminder")
    by_person = {m.participant_id: m for m in reminders}
    assert set(by_person) == {answered_one, silent}
    assert "Which name do you like best?" in by_person[silent].body
    assert "Why? Reply SKIP to skip" in by_person[answered_one].body
    assert "Name our group" in by_person[silent].body
    # The same tick again queues nothing more.
    assert queue_due_reminders(runtime, now=NOON + DAY).queued == 0
    assert send_all(runtime, NOON + DAY).sent == 2

    assert queue_due_reminders(runtime, now=NOON + 2 * DAY).queued == 2
    assert queue_due_reminders(runtime, now=NOON + 30 * DAY).queued == 0  # max: 2
    with runtime.db.transaction() as s:
        assert conversation_of(s, silent).reminders_sent == 2
        assert conversation_of(s, silent).next_reminder_at is None


def test_reminder_due_at_night_is_deferred_not_dropped(runtime: Runtime) -> None:
    make_poll(runtime)
    [pid] = people(runtime, 1)
    evening = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # Saturday before the clocks go back
    launch(runtime, now=evening)
    send_all(runtime, evening)
    # Due at 12:00 on Sunday 25 October: fine. Make it due at 23:00 instead.
    with runtime.db.transaction() as s:
        conversation_of(s, pid).next_reminder_at = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    report = queue_due_reminders(runtime, now=datetime(2026, 10, 24, 23, 0, tzinfo=UTC))
    assert report.queued == 1 and report.deferred == 1
    [reminder] = messages(runtime, kind="reminder")
    # 08:00 GMT on Sunday, after the clocks went back at 01:00 UTC.
    morning = datetime(2026, 10, 25, 8, 0, tzinfo=UTC)
    assert reminder.deferred and reminder.send_after == morning
    assert send_all(runtime, morning - timedelta(minutes=1)).claimed == 0
    assert send_all(runtime, morning).sent == 1


def test_queued_reminder_is_dropped_if_they_finish_first(runtime: Runtime) -> None:
    make_poll(runtime)
    [pid] = people(runtime, 1)
    launch(runtime)
    send_all(runtime, NOON)
    with runtime.db.transaction() as s:
        conversation_of(s, pid).next_reminder_at = NOON + timedelta(hours=10)  # 22:00: deferred
    assert queue_due_reminders(runtime, now=NOON + timedelta(hours=10)).deferred == 1
    with runtime.db.transaction() as s:
        end_conversation(conversation_of(s, pid), ConversationStatus.FINISHED, NOON)
    report = send_all(runtime, NOON + DAY)
    assert report.cancelled == 1 and report.sent == 0
    [reminder] = messages(runtime, kind="reminder")
    assert reminder.status == OutboundStatus.CANCELLED


def test_no_reminders_once_the_poll_closed(runtime: Runtime) -> None:
    make_poll(runtime)
    people(runtime, 2)
    launch(runtime)
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll))
        assert poll is not None
        poll.status = "closed"
    assert queue_due_reminders(runtime, now=NOON + DAY).queued == 0


def test_a_conversation_started_by_its_keyword_is_reminded_like_a_launched_one(
    runtime: Runtime, phone
) -> None:
    """Texting a poll's keyword sends its first question at once: from then on, someone who
    stops answering gets the same reminders as someone invited by a launch."""
    from smsapp.services.polls.definitions import open_poll

    poll_id = make_poll(runtime)
    [pid] = people(runtime, 1)
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        poll.keyword = "NAMES"
        open_poll(s, poll)
    assert "Which name do you like best?" in " ".join(phone("+447911123100").replies("names"))
    with runtime.db.transaction() as s:
        conversation = conversation_of(s, pid)
        assert conversation.started_by == "keyword" and conversation.invited_at is not None
        due = conversation.invited_at + DAY
        assert conversation.next_reminder_at == due
    assert queue_due_reminders(runtime, now=due - timedelta(minutes=1)).queued == 0
    assert queue_due_reminders(runtime, now=due).queued == 1
    [reminder] = messages(runtime, kind="reminder")
    assert reminder.participant_id == pid and "Which name do you like best?" in reminder.body
