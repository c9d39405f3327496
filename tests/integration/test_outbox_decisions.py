"""Decisions about outbound texts are each made in one function, and every caller agrees:

- what an outbound row holds (outbox/rows.outbound_row): launch's bulk rows, queued texts,
  inline TwiML replies and the withdrawal confirmation;
- whether a text is already at Twilio (TwilioTransport.find_sent): reconciling a dead
  worker's claim and the check before retrying a send that got no answer;
- when the first reminder is due (polls/reminders.first_reminder_at): a poll started at launch,
  by a reply that finished the poll before it, and by the close of the poll before it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.db import utcnow
from smsapp.models import (
    Conversation,
    ConversationStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
    Poll,
)
from smsapp.runtime import Runtime
from smsapp.services.outbox import claims, provider, reconcile
from smsapp.services.outbox.claims import VERIFY_KEY
from smsapp.services.outbox.rows import outbound_row
from smsapp.services.people.withdrawal import withdraw
from smsapp.services.polls.closing import close_poll, queue_started_turn
from smsapp.services.polls.conversations import Turn
from smsapp.services.polls.definitions import load_definition
from smsapp.services.polls.reminders import first_reminder_at, queue_due_reminders
from smsapp.sms.twilio_transport import FIND_SENT_CLOCK_SLACK
from tests.support.factories import (
    NOON,
    launch,
    make_participant,
    make_poll,
    messages,
    people,
    send_all,
)
from tests.support.twilio_standin import TwilioStandin

DAY = timedelta(days=1)


# -- one way to build an outbound row ----------------------------------------------------------


def _as_built(row: OutboundMessage, body: str | None = None) -> dict[str, Any]:
    """What outbound_row gives for this row's own facts (its body, or the one it had)."""
    return outbound_row(
        participant_id=row.participant_id,
        poll_id=row.poll_id,
        conversation_id=row.conversation_id,
        in_reply_to_id=row.in_reply_to_id,
        kind=row.kind,
        body=row.body if body is None else body,
        backend=row.backend,
        send_after=row.send_after,
        deferred=row.deferred,
        valid_until=row.valid_until,
        sent=row.status == OutboundStatus.SENT,
        now=row.created_at,
    )


def _stored(row: OutboundMessage, columns: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in columns}


def test_every_path_builds_its_rows_the_one_way(runtime: Runtime, phone: Any) -> None:
    """Launch (COPY on PostgreSQL), a reminder, an inline reply and a withdrawal confirmation:
    each stored row is exactly what outbound_row makes of its facts, segments included."""
    make_poll(runtime)
    # "ë" is not in the GSM alphabet: the greeting goes as UCS-2, which changes the segments.
    zoe = make_participant(runtime, "+447911123101", nickname="Zo\u00eb").id
    people(runtime, 1, start=102)
    launch(runtime)
    queue_due_reminders(runtime, now=NOON + DAY + timedelta(minutes=1))
    phone("+447911123102").replies("1")  # an inline reply
    rows = messages(runtime)
    assert {(m.kind, m.backend) for m in rows} == {
        ("invitation", "outbox"),
        ("reminder", "outbox"),
        ("reply", "twiml"),
    }
    for row in rows:
        built = _as_built(row)
        assert _stored(row, built) == built, row.kind
    ucs2 = [m for m in rows if m.kind == "invitation" and m.participant_id == zoe]
    assert ucs2 and ucs2[0].segments == 2 and ucs2[0].body.startswith("Hi Zo\u00eb")

    with runtime.db.transaction() as s:
        person = s.get(Participant, zoe)
        assert person is not None
        confirmation = withdraw(runtime, s, person, via="cli", actor="cli").confirmation
    assert confirmation is not None
    [sent] = messages(runtime, kind="withdrawal")
    # Erasure then blanked the body it went with (touching updated_at): compare the rest with
    # the text that was sent.
    built = _as_built(sent, confirmation)
    assert sent.body == "" and sent.status == OutboundStatus.SENT and sent.backend == "outbox"
    del built["body"], built["updated_at"]
    assert _stored(sent, built) == built


# -- one look-up at Twilio ---------------------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin() as server:
        yield server


def _twilio(runtime: Runtime, standin: TwilioStandin) -> Runtime:
    settings = runtime.settings.with_overrides(
        sms_backend="twilio", twilio_api_base_url=standin.base_url, send_rate=1000.0
    )
    return dataclasses.replace(runtime, settings=settings)


@pytest.mark.parametrize("inside", [True, False], ids=["inside-the-slack", "before-the-slack"])
def test_reconcile_and_the_retry_check_find_a_text_at_twilio_alike(
    runtime: Runtime, standin: TwilioStandin, inside: bool
) -> None:
    """Two rows whose texts reached Twilio (accepted, not sent yet, so no DateSent) with
    Twilio's clock a little behind ours: one left by a dead worker, one whose send timed out.
    Both paths ask the transport's one look-up from the same moment, so both find their text,
    or (stamped before the slack) both do not."""
    rt = _twilio(runtime, standin)
    make_poll(rt)
    stuck, timed_out = people(rt, 2)
    launch(rt)
    claimed = {c.participant_id: c for c in claims.claim_due(rt, 10, NOON)}
    transport = provider.transport_for(rt)
    assert transport is not None
    with rt.db.transaction() as s:
        numbers = {
            pid: rt.vault.decrypt(blob)
            for pid, blob in s.execute(sa.select(Participant.id, Participant.phone_ciphertext))
        }
    sids = {pid: transport.send(numbers[pid], claimed[pid].body).sid for pid in (stuck, timed_out)}
    offset = FIND_SENT_CLOCK_SLACK + timedelta(seconds=-5 if inside else 5)
    with standin.lock:
        for message in standin.messages:
            message["date_sent"] = "Thu, 01 Jan 2026 00:00:00 +0000"  # "not sent yet"
            message["date_created"] = format_datetime(NOON - offset)
    # The timed-out send went back to the queue, asking Twilio first from its attempt (NOON).
    with rt.db.transaction() as s:
        s.execute(
            sa.update(OutboundMessage)
            .where(OutboundMessage.id == claimed[timed_out].id)
            .values(status=OutboundStatus.QUEUED, extra={VERIFY_KEY: NOON.isoformat()})
        )

    report = reconcile.reconcile_stuck(rt, now=NOON + timedelta(minutes=5))
    send_all(rt, NOON + timedelta(minutes=5))
    by_person = {m.participant_id: m for m in messages(rt)}
    if inside:
        assert (report.found_sent, report.requeued) == (1, 0)
        assert {pid: by_person[pid].twilio_sid for pid in sids} == sids
        assert len(standin.recorded()) == 2  # nobody texted twice
    else:
        assert (report.found_sent, report.requeued) == (0, 1)
        assert all(by_person[pid].twilio_sid not in (None, sids[pid]) for pid in sids)
        assert len(standin.recorded()) == 4  # both sent again: neither text was found


# -- one first reminder time -------------------------------------------------------------------


def _second_poll_conversations(runtime: Runtime) -> list[tuple[Conversation, datetime | None]]:
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "second"))
        assert poll is not None
        defn = load_definition(poll)
        rows = s.scalars(sa.select(Conversation).where(Conversation.poll_id == poll.id)).all()
        return [
            (c, first_reminder_at(defn, c.invited_at, c.status != ConversationStatus.OPEN))
            for c in rows
            if c.invited_at is not None
        ]


def test_first_reminder_time_agrees_for_launch_reply_and_close(
    runtime: Runtime, phone: Any
) -> None:
    """The second poll begins for one person at its launch, for one when they finish the first
    poll by text, and for one when the first poll closes: each first reminder is due one
    `after` from that person's own invitation, as first_reminder_at says."""
    make_poll(runtime, "first")
    make_poll(runtime, "second")
    free, replier, closer = people(runtime, 3)
    now = utcnow()  # a text is handled at the real time: the conversation must not be idle
    launch(runtime, "first", now)
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(Conversation)
            .where(Conversation.participant_id == free)
            .values(status=ConversationStatus.FINISHED)
        )
    launch(runtime, "second", now + timedelta(minutes=5))  # free now; the others wait
    replier_phone = phone("+447911123101")
    replier_phone.replies("1")
    started = replier_phone.replies("SKIP")  # finishes "first": "second" begins inline
    assert any("Which name" in text for text in started)
    with runtime.db.transaction() as s:
        first = s.scalar(sa.select(Poll).where(Poll.slug == "first"))
        assert first is not None
        closed = close_poll(runtime, s, first, now=now + timedelta(hours=1))
    assert len(closed.started_next) == 1

    found = _second_poll_conversations(runtime)
    assert {c.participant_id for c, _ in found} == {free, replier, closer}
    for conversation, expected in found:
        assert conversation.status == ConversationStatus.OPEN
        assert expected == conversation.invited_at + DAY  # reminders: {after: 24h}
        assert conversation.next_reminder_at == expected, conversation.participant_id
    times = {c.participant_id: c.invited_at for c, _ in found}
    assert len(set(times.values())) == 3  # three different invitation times, three paths


def test_a_poll_begun_by_a_job_that_finished_at_once_gets_no_reminder(runtime: Runtime) -> None:
    """queue_started_turn queues the texts of a poll a job began; it must not give a reminder
    time to a conversation that finished as it began (the not-finished guard)."""
    make_poll(runtime)
    [pid] = people(runtime, 1)
    launch(runtime)
    at = NOON + timedelta(hours=1)
    with runtime.db.transaction() as s:
        conversation = s.scalar(sa.select(Conversation))
        participant = s.get(Participant, pid)
        assert conversation is not None and participant is not None
        conversation.status = ConversationStatus.FINISHED
        conversation.next_reminder_at = None
        turn = Turn("poll-start", ["Thanks!"], conversation.id, conversation.poll_id)
        queue_started_turn(runtime, s, participant, turn, at)
        s.flush()
        assert conversation.next_reminder_at is None
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll))
        assert poll is not None
        defn = load_definition(poll)
    assert first_reminder_at(defn, at, finished=True) is None
    assert first_reminder_at(defn, at, finished=False) == at + DAY
