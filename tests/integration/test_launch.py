"""Launching a poll: who is texted and who is not (and why), once only, and not in quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp import queue
from smsapp.models import (
    Conversation,
    ConversationStatus,
    Group,
    NumberStatus,
    OutboundStatus,
    Participant,
    ParticipantStatus,
    Poll,
    PollStatus,
)
from smsapp.runtime import Runtime
from smsapp.services.outbox import sending
from smsapp.services.polls.closing import close_poll
from smsapp.services.polls.definitions import PollError
from smsapp.services.polls.launch import preview_launch
from smsapp.sms.segments import count_segments
from tests.support.factories import (
    NOON,
    launch,
    make_participant,
    make_poll,
    messages,
    people,
    send_all,
)


def set_participant(runtime: Runtime, pid: int, **values: Any) -> None:
    with runtime.db.transaction() as s:
        s.execute(sa.update(Participant).where(Participant.id == pid).values(**values))


@pytest.fixture
def mixed_group(runtime: Runtime) -> dict[str, list[int]]:
    """Five who may be texted, and one of each kind who may not."""
    make_poll(runtime)
    eligible = people(runtime, 5)
    no_consent = make_participant(runtime, "+447911123201", consent=False).id
    opted_out = make_participant(runtime, "+447911123202").id
    set_participant(runtime, opted_out, status=ParticipantStatus.OPTED_OUT)
    withdrawn = make_participant(runtime, "+447911123203").id
    set_participant(runtime, withdrawn, status=ParticipantStatus.WITHDRAWN)
    invalid = make_participant(runtime, "+447911123204").id
    set_participant(runtime, invalid, number_status=NumberStatus.INVALID)
    simulated = make_participant(runtime, "+447911123205").id
    set_participant(runtime, simulated, simulated=True)
    outsider = make_participant(runtime, "+447911123206", group="elsewhere").id
    return {
        "eligible": eligible,
        "excluded": [no_consent, opted_out, withdrawn, invalid, simulated, outsider],
    }


def test_preview_counts_recipients_exclusions_segments_and_cost(
    runtime: Runtime, mixed_group: dict[str, list[int]]
) -> None:
    with runtime.db.transaction() as s:
        plan = preview_launch(runtime, s, "name-our-group")
    assert {m.id for m in plan.recipients} == set(mixed_group["eligible"])
    assert dict(plan.excluded) == {
        "no consent": 1,
        "opted out": 1,
        "withdrawn": 1,
        "invalid number": 1,
    }
    bodies = [b for m in plan.recipients for b in plan.texts_by_nickname[m.nickname]]
    assert plan.texts == len(bodies) == 5
    assert plan.segments == sum(count_segments(b).segments for b in bodies)
    assert plan.estimated_cost == round(plan.segments * 0.04, 2)
    text = "\n".join(plan.summary_lines())
    assert "no consent: 1" in text and "GBP" in text
    # A preview changes nothing.
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(Poll.status)) == PollStatus.DRAFT
        assert s.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0


def test_launch_texts_each_eligible_person_exactly_once(
    runtime: Runtime, mixed_group: dict[str, list[int]]
) -> None:
    result = launch(runtime)
    assert result.conversations == result.messages == 5
    queued = messages(runtime, kind="invitation")
    assert sorted(m.participant_id or 0 for m in queued) == sorted(mixed_group["eligible"])
    assert all(m.status == OutboundStatus.QUEUED and not m.deferred for m in queued)
    # The nickname is in each text, and the first question follows the intro.
    with runtime.db.transaction() as s:
        nick = dict(s.execute(sa.select(Participant.id, Participant.nickname)).all())
    for m in queued:
        assert m.body.startswith(f"Hi {nick[m.participant_id or 0]}!")
        assert "Which name do you like best?" in m.body
        assert m.valid_until == NOON + timedelta(days=7)

    with pytest.raises(PollError):
        launch(runtime)  # a second launch is refused and adds nothing

    report = send_all(runtime, NOON)
    assert report.sent == 5
    sent = messages(runtime, kind="invitation")
    assert len(sent) == 5
    assert {m.status for m in sent} == {OutboundStatus.SENT}
    assert {m.twilio_sid for m in sent} == {f"OUTBOX-{m.id}" for m in sent}
    assert send_all(runtime, NOON + timedelta(hours=1)).claimed == 0
    with runtime.db.transaction() as s:
        convs = s.scalars(sa.select(Conversation)).all()
        assert {c.status for c in convs} == {ConversationStatus.OPEN}
        assert {c.next_reminder_at for c in convs} == {NOON + timedelta(hours=24)}
        poll = s.scalar(sa.select(Poll))
        assert poll is not None and poll.status == PollStatus.OPEN


def test_someone_busy_in_another_poll_waits_and_starts_when_it_closes(runtime: Runtime) -> None:
    make_poll(runtime, "first")
    make_poll(runtime, "second")
    ids = people(runtime, 3)
    launch(runtime, "first")
    # One of them finishes the first poll before the second launches.
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(Conversation)
            .where(Conversation.participant_id == ids[0])
            .values(status=ConversationStatus.FINISHED)
        )
    result = launch(runtime, "second", NOON + timedelta(minutes=5))
    assert result.waiting == 2 and result.messages == 1
    with runtime.db.transaction() as s:
        poll_ids = dict(s.execute(sa.select(Poll.slug, Poll.id)).all())
        first = s.get(Poll, poll_ids["first"])
        assert first is not None
        closed = close_poll(runtime, s, first, now=NOON + timedelta(hours=1))
    assert closed.ended == 2 and len(closed.started_next) == 2
    second = messages(runtime, poll_id=poll_ids["second"])
    assert sorted(m.participant_id or 0 for m in second) == sorted(ids)
    with runtime.db.transaction() as s:
        statuses = dict(
            s.execute(
                sa.select(Conversation.participant_id, Conversation.status).where(
                    Conversation.poll_id == poll_ids["second"]
                )
            ).all()
        )
    assert set(statuses.values()) == {ConversationStatus.OPEN}


def test_launch_at_night_waits_for_morning_across_the_march_clock_change(
    runtime: Runtime,
) -> None:
    make_poll(runtime)
    people(runtime, 2)
    # Saturday 28 March 2026, 22:30 GMT; clocks go forward at 01:00 UTC on Sunday.
    night = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    with runtime.db.transaction() as s:
        plan = preview_launch(runtime, s, "name-our-group", now=night)
    launch(runtime, now=night)
    queued = messages(runtime)
    morning = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 08:00 BST
    assert {m.send_after for m in queued} == {morning}
    assert all(m.deferred for m in queued)
    assert plan.texts == 2
    assert "Quiet hours: texts will go out from Sun 29 Mar 2026 08:00" in "\n".join(
        plan.summary_lines()
    )
    assert send_all(runtime, morning - timedelta(minutes=1)).claimed == 0
    assert send_all(runtime, morning).sent == 2


def test_group_policy_school_hours_and_disabled(runtime: Runtime) -> None:
    make_poll(runtime)
    people(runtime, 1)
    with runtime.db.transaction() as s:
        group = s.scalar(sa.select(Group).where(Group.slug == "oakfield"))
        assert group is not None
        group.settings = {"quiet_hours": {"school_hours": ["09:00", "15:30"]}}
    launch(runtime, now=NOON)  # a weekday noon: held until school is out (15:30 GMT)
    [m] = messages(runtime)
    assert m.deferred and m.send_after == datetime(2026, 3, 3, 15, 30, tzinfo=UTC)

    make_poll(runtime, "later")
    with runtime.db.transaction() as s:
        group = s.scalar(sa.select(Group).where(Group.slug == "oakfield"))
        assert group is not None
        group.settings = {"quiet_hours": {"enabled": False}}
    night = datetime(2026, 3, 3, 23, 0, tzinfo=UTC)
    result = launch(runtime, "later", now=night)
    assert result.waiting == 1  # still busy in the first poll
    with runtime.db.transaction() as s:
        conv = s.scalar(
            sa.select(Conversation).where(Conversation.status == ConversationStatus.OPEN)
        )
        assert conv is not None
        first = s.get(Poll, conv.poll_id)
        assert first is not None
        close_poll(runtime, s, first, now=night)
    later = [m for m in messages(runtime) if m.id != messages(runtime)[0].id]
    assert len(later) == 1 and later[0].send_after == night and not later[0].deferred


def test_cli_launch_prompts_and_yes_skips_it(
    runtime: Runtime, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record what would be enqueued: a job thread must not share the test's one connection.
    kicks: list[str] = []
    monkeypatch.setattr(queue, "enqueue", lambda rt, job, *a, **kw: kicks.append(job))
    make_poll(runtime)
    people(runtime, 3)
    declined = runner.invoke(["polls", "launch", "name-our-group"], input="n\n")
    assert declined.exit_code == 0, declined.output
    assert "Recipients: 3" in declined.output and "Send 3 texts now?" in declined.output
    assert messages(runtime) == [] and kicks == []

    accepted = runner.invoke(["polls", "launch", "name-our-group", "--yes"])
    assert accepted.exit_code == 0, accepted.output
    assert "Launched name-our-group: 3 texts queued" in accepted.output
    assert len(messages(runtime)) == 3 and kicks == [sending.SEND_JOB]

    again = runner.invoke(["polls", "launch", "name-our-group", "--yes"])
    assert again.exit_code != 0 and "already open" in again.output
    assert len(messages(runtime)) == 3

    closed = runner.invoke(["polls", "close", "name-our-group"])
    assert closed.exit_code == 0, closed.output
    assert "3 conversation(s) ended, 3 unsent text(s) cancelled" in closed.output
    assert {m.status for m in messages(runtime)} == {OutboundStatus.CANCELLED}
    assert runner.invoke(["polls", "close", "name-our-group"]).exit_code != 0
