"""Celebrate: a short text to the group about what it achieved this term, previewed first, then
queued through the outbox like every other text. Consent decides who gets it, quiet hours
hold it, STOP after the preview still wins at the send, and the same words go out once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.db import utcnow
from smsapp.models import AuditEvent, OutboundMessage, OutboundStatus, Participant, Poll
from smsapp.services.people.groups import group_by_slug
from smsapp.services.polls.closing import close_poll
from smsapp.services.polls.definitions import PollError, import_poll, open_poll
from smsapp.services.record import celebrate
from smsapp.services.votes.tallying import tally_poll
from tests.support.answers import record_answer
from tests.support.factories import make_group, make_participant, send_all

NAME = """
slug: name-us
title: Name our group
group: oakfield
purpose: name
tie_seed: name-seed
questions:
  - {key: name, kind: choice, prompt: "Which name?", options: [Team Spark, Health Voices]}
"""
NUMBERS = [f"+447911126{100 + i:03d}" for i in range(6)]


@pytest.fixture
def group(runtime: Any) -> list[int]:
    """Six members who may be texted, one without consent, one opted out, a pretend phone;
    they named the group ten days ago."""
    make_group(runtime, "oakfield", "Oakfield Youth Panel")
    people = [make_participant(runtime, n, nickname=f"Kid{i}").id for i, n in enumerate(NUMBERS)]
    make_participant(runtime, "+447911126200", consent=False)
    make_participant(runtime, "+447911126201", status="opted-out")
    pretend = make_participant(runtime, "+447911126202").id
    with runtime.db.transaction() as s:
        s.execute(sa.update(Participant).where(Participant.id == pretend).values(simulated=True))
        poll = import_poll(s, NAME).poll
        open_poll(s, poll)
        poll_id = poll.id
    voted = utcnow() - timedelta(days=11)
    for pid in people:
        record_answer(runtime, poll_id, pid, "name", "choice", "A", voted)
    with runtime.db.transaction() as s:
        named = s.get(Poll, poll_id)
        assert named is not None
        close_poll(runtime, s, named, now=voted + timedelta(days=1))
        tally_poll(s, named, final=True, now=voted + timedelta(days=1))
    return people


def _celebrations(runtime: Any) -> list[OutboundMessage]:
    with runtime.db.transaction() as s:
        return list(
            s.scalars(
                sa.select(OutboundMessage)
                .where(OutboundMessage.kind == "celebrate")
                .order_by(OutboundMessage.id)
            )
        )


def test_the_preview_drafts_the_text_and_names_who_is_not_texted(client, login, group):
    login("facilitator")
    page = client.get("/admin/groups/oakfield/celebrate").get_data(as_text=True)
    assert "Well done, Oakfield Youth Panel! This term you chose your name: Team Spark" in page
    assert "<dt>Recipients</dt><dd><strong>6</strong>" in page
    assert "no guardian consent recorded: 1" in page
    assert "participant is opted-out: 1" in page
    assert "simulated" not in page  # the pretend phone is nobody, not an exclusion
    # Nothing is queued by looking.
    edited = client.get(
        "/admin/groups/oakfield/celebrate", query_string={"text": "We did it! Thank you all."}
    ).get_data(as_text=True)
    assert '<pre class="sms" id="celebrate-text">We did it! Thank you all.</pre>' in edited
    assert "1 each, 6 in all" in edited


def test_sending_queues_one_text_each_once_and_stop_still_wins(
    client, login, runtime, phone, group
):
    token = login("facilitator")
    text = "We did it! Thank you all."
    unconfirmed = client.post(
        "/admin/groups/oakfield/celebrate", data={"csrf_token": token, "text": text}
    )
    assert unconfirmed.status_code == 302
    assert _celebrations(runtime) == []

    sent = client.post(
        "/admin/groups/oakfield/celebrate",
        data={"csrf_token": token, "text": text, "confirm": "yes"},
        follow_redirects=True,
    )
    assert "The celebration text is queued to 6 people." in sent.get_data(as_text=True)
    rows = _celebrations(runtime)
    assert sorted(r.participant_id for r in rows) == sorted(group)
    assert {r.body for r in rows} == {text} and {r.status for r in rows} == {"queued"}

    # A second press (a double click, or the back button) queues nothing more.
    again = client.post(
        "/admin/groups/oakfield/celebrate",
        data={"csrf_token": token, "text": text, "confirm": "yes"},
        follow_redirects=True,
    )
    assert "already been sent to the group" in again.get_data(as_text=True)
    assert len(_celebrations(runtime)) == 6

    # STOP after the preview wins at the send.
    assert phone(NUMBERS[0]).send("STOP").status_code == 200
    later = utcnow() + timedelta(days=1)
    send_all(runtime, later)
    send_all(runtime, later + timedelta(minutes=5))
    by_person = {r.participant_id: r for r in _celebrations(runtime)}
    assert by_person[group[0]].status == OutboundStatus.CANCELLED
    assert all(by_person[p].status == OutboundStatus.SENT for p in group[1:])
    assert all(by_person[p].attempts == 1 for p in group[1:])  # each sent exactly once
    with runtime.db.transaction() as s:
        audit = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "group.celebrate"))
        assert [(a.subject, a.details["recipients"]) for a in audit] == [("oakfield", 6)]


def test_quiet_hours_hold_the_celebration_until_morning(runtime, group):
    late_evening = datetime(2027, 1, 12, 22, 30, tzinfo=UTC)  # a Tuesday, 22:30 in London
    with runtime.db.transaction() as s:
        oakfield = group_by_slug(s, "oakfield")
        assert oakfield is not None
        previewed = celebrate.preview(runtime, s, oakfield, "Thank you all!", late_evening)
        assert previewed.deferred
        assert previewed.send_after == datetime(2027, 1, 13, 8, 0, tzinfo=UTC)
        plan = celebrate.queue_celebration(
            runtime, s, oakfield, "Thank you all!", actor="test", now=late_evening
        )
    assert len(plan.recipients) == 6
    rows = _celebrations(runtime)
    assert {r.deferred for r in rows} == {True}
    assert {r.send_after.astimezone(UTC) for r in rows} == {datetime(2027, 1, 13, 8, 0, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("text", "refusal"),
    [("   ", "write the text first"), ("x" * 600, "is 4 texts long: keep it to 3")],
)
def test_an_empty_or_long_text_is_refused(runtime, group, text, refusal):
    with runtime.db.transaction() as s:
        oakfield = group_by_slug(s, "oakfield")
        assert oakfield is not None
        with pytest.raises(PollError, match=refusal):
            celebrate.queue_celebration(runtime, s, oakfield, text, actor="test")
    assert _celebrations(runtime) == []


def test_a_researcher_cannot_celebrate(client, login, group):
    token = login("researcher")
    assert client.get("/admin/groups/oakfield/celebrate").status_code == 403
    response = client.post(
        "/admin/groups/oakfield/celebrate",
        data={"csrf_token": token, "text": "hi", "confirm": "yes"},
    )
    assert response.status_code == 403
