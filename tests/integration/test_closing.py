"""Closing polls by hand and at the deadline; idle conversations expire; delivery counts."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from smsapp.models import Conversation, ConversationStatus, OutboundStatus, Poll, PollStatus
from smsapp.runtime import Runtime
from smsapp.services.outbox import callbacks
from smsapp.services.outbox.counts import delivery_counts
from smsapp.services.polls import closing, conversations
from smsapp.services.polls.reminders import queue_due_reminders
from tests.support.factories import NOON, launch, make_poll, messages, people, send_all

WEEK = timedelta(days=7)


def statuses(runtime: Runtime) -> dict[int, str]:
    with runtime.db.transaction() as s:
        return dict(s.execute(sa.select(Conversation.participant_id, Conversation.status)).all())


def test_deadline_closes_the_poll_and_asks_for_the_tally(runtime: Runtime) -> None:
    poll_id = make_poll(runtime)
    done, busy = people(runtime, 2)
    launch(runtime)
    send_all(runtime, NOON)
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(Conversation)
            .where(Conversation.participant_id == done)
            .values(status=ConversationStatus.FINISHED)
        )
    # A reminder queued for the night would go out after the deadline: closing cancels it.
    queue_due_reminders(runtime, now=NOON + WEEK - timedelta(hours=1))
    assert closing.close_due_polls(runtime, now=NOON + WEEK - timedelta(seconds=1)) == []
    [result] = closing.close_due_polls(runtime, now=NOON + WEEK)
    assert result.ended == 1 and result.cancelled == 1
    assert statuses(runtime) == {done: ConversationStatus.FINISHED, busy: ConversationStatus.CLOSED}
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None and poll.status == PollStatus.CLOSED
        assert poll.closed_at == NOON + WEEK
        assert conversations.closed_poll_reply(s, busy, now=NOON + WEEK) is not None
        assert conversations.closed_poll_reply(s, done, now=NOON + WEEK) is None
    assert runtime.pending_jobs == [("jobs.tally.tally_poll", (poll_id,), {})]
    assert closing.close_due_polls(runtime, now=NOON + 2 * WEEK) == []  # once only
    assert {m.status for m in messages(runtime, kind="reminder")} == {OutboundStatus.CANCELLED}


def test_idle_conversation_expires_and_the_waiting_poll_starts(runtime: Runtime) -> None:
    make_poll(runtime, "first")
    make_poll(runtime, "second")
    [pid] = people(runtime, 1)
    launch(runtime, "first")
    launch(runtime, "second", NOON + timedelta(minutes=1))
    timeout = timedelta(hours=runtime.settings.conversation_timeout_hours)
    assert closing.expire_idle(runtime, now=NOON + timeout - timedelta(minutes=1)) == 0
    assert closing.expire_idle(runtime, now=NOON + timeout + timedelta(minutes=1)) == 1
    with runtime.db.transaction() as s:
        rows = s.execute(
            sa.select(Poll.slug, Conversation.status, Conversation.next_reminder_at).join(
                Poll, Poll.id == Conversation.poll_id
            )
        ).all()
    found = {slug: (status, nxt) for slug, status, nxt in rows}
    assert found["first"][0] == ConversationStatus.EXPIRED
    assert found["second"][0] == ConversationStatus.OPEN
    assert found["second"][1] == NOON + timeout + timedelta(minutes=1, hours=24)
    invitations = [m for m in messages(runtime, kind="invitation") if m.participant_id == pid]
    assert len(invitations) == 2  # one per poll, the second only now


def test_delivery_counts_follow_status_callbacks(runtime: Runtime) -> None:
    poll_id = make_poll(runtime)
    people(runtime, 3)
    launch(runtime)
    send_all(runtime, NOON)
    sids = [m.twilio_sid for m in messages(runtime)]
    assert callbacks.record_status(runtime, sids[0] or "", "delivered", None)
    assert callbacks.record_status(runtime, sids[1] or "", "undelivered", 30003, "Unreachable")
    with runtime.db.transaction() as s:
        counts = delivery_counts(s, poll_id)
    assert counts.by_status == {"sent": 1, "delivered": 1, "undelivered": 1}
    assert counts.failures == {"30003: Unreachable": 1}
