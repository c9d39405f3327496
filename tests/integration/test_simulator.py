"""The simulator runs the webhook's pipeline on a pretend phone, drafts included."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from smsapp.models import Answer
from smsapp.services.polls import simulator
from smsapp.services.polls.definitions import import_poll
from smsapp.services.research.results import summarise
from tests.support.factories import make_group

DATA = Path(__file__).parent.parent / "data"


def test_try_a_draft_poll_and_answer_it(runtime) -> None:
    make_group(runtime)
    with runtime.db.transaction() as s:
        poll_id = import_poll(s, (DATA / "every_kind.yaml").read_text()).poll.id
    first = simulator.try_poll(runtime, staff_id=1, poll_id=poll_id)
    assert "Hi Tester!" in first.replies[0] and "A) Red" in first.replies[0]
    reply = simulator.send_text(runtime, 1, "green")
    assert reply.route == "poll" and "Which snacks?" in reply.replies[0]
    again = simulator.try_poll(runtime, staff_id=1, poll_id=poll_id)  # restart clears the try
    assert "A) Red" in again.replies[0]
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(Answer.id))) == 0
        lines = simulator.history(s, 1)
        from smsapp.models import Poll

        poll = s.get(Poll, poll_id)
        assert poll is not None and poll.status == "draft"
        assert summarise(s, poll).invited == 0  # simulated people never count
    assert [line.direction for line in lines] == ["out", "in", "out", "out"]
    assert lines[1].body == "green"


def test_simulator_text_with_nothing_open(runtime) -> None:
    reply = simulator.send_text(runtime, 2, "hi")
    assert "nothing to answer" in reply.replies[0]
