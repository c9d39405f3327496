"""Inbound texts through real gunicorn, worker and clock processes on PostgreSQL: repeated
webhook deliveries, one young person texting many times at once, and random garbage.

Invariants: every text answered 200 is stored exactly once, its replies are logged once, and
every participant due an invitation gets exactly one.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from functools import partial

import pytest
import sqlalchemy as sa

from smsapp.models import OutboundStatus
from smsapp.models.polls import Answer
from tests.support.fuzzing import FuzzPlan, expected_status
from tests.support.stack import Stack, new_sid, parallel, text_params, wait_for
from tests.support.twilio_standin import TwilioStandin

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def start(stack: Stack, participants: int) -> list[str]:
    numbers = stack.populate(participants)
    stack.start_web()
    stack.start_worker()
    stack.start_clock()
    assert stack.launch() == participants
    # Invitations first: a reply that overtakes its own queued invitation cancels it (a text
    # superseded), which is right but would blur the exactly-once count below.
    assert_invited_once(stack, stack.standin, numbers)
    return numbers


def assert_invited_once(stack: Stack, standin: TwilioStandin, numbers: list[str]) -> None:
    """Everyone due the invitation gets it, exactly once."""
    assert wait_for(lambda: stack.statuses() == {OutboundStatus.SENT: len(numbers)}, 30), (
        stack.statuses()
    )
    assert sorted(m["to"] for m in standin.recorded()) == sorted(numbers)


def test_a_thousand_duplicate_deliveries_store_each_text_once(
    stack_factory: Callable[..., Stack], database: str, redis_url: str, standin: TwilioStandin
) -> None:
    stack = stack_factory(database, redis_url)
    numbers = start(stack, 40)
    # 200 texts (five per person), each delivered five times, all shuffled together: Twilio's
    # retries overlap with the first delivery and arrive out of order.
    texts = [text_params(n, body, new_sid()) for n in numbers for body in ("a", "b", "1", "A", "x")]
    deliveries = [t for t in texts for _ in range(5)]
    random.Random(9).shuffle(deliveries)
    assert len(deliveries) == 1000
    answers = parallel([partial(stack.post, "/sms/inbound", t) for t in deliveries])

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 1000}, statuses
    by_sid: dict[str, set[str]] = {}
    for params, (_, body) in zip(deliveries, answers, strict=True):
        by_sid.setdefault(params["MessageSid"], set()).add(body)
    # Every delivery of one text got the same TwiML back: the replies were decided once. (If
    # not, say how each such text was stored: its route and any error explain which paths ran.)
    split = {sid: bodies for sid, bodies in by_sid.items() if len(bodies) != 1}
    assert not split, stack.stored_texts(list(split))
    counts = stack.inbound_counts()
    assert counts == {t["MessageSid"]: 1 for t in texts}
    said, logged = stack.replies_logged()
    assert said == logged > 0


def test_concurrent_texts_from_one_participant_answer_each_question_once(
    stack_factory: Callable[..., Stack], database: str, redis_url: str, standin: TwilioStandin
) -> None:
    stack = stack_factory(database, redis_url)
    numbers = start(stack, 5)
    kid = numbers[0]
    bodies = ["a", "B", "1", "yes", "2", "c", "A B", "3", "no", "x"] * 3
    answers = parallel([partial(stack.text, kid, b) for b in bodies], threads=len(bodies))
    assert [status for _, status in answers] == [200] * len(bodies)
    counts = stack.inbound_counts()
    assert {sid: counts.get(sid) for sid, _ in answers} == {sid: 1 for sid, _ in answers}
    with stack.runtime.db.transaction() as s:
        keys = s.scalars(sa.select(Answer.question_key).where(Answer.superseded.is_(False))).all()
        by_inbound = s.execute(
            sa.select(Answer.inbound_message_id, sa.func.count())
            .where(Answer.inbound_message_id.is_not(None))
            .group_by(Answer.inbound_message_id)
        ).all()
    # Handled one after the other: no question answered twice, at least some answered.
    assert keys and len(keys) == len(set(keys)), Counter(keys)
    assert all(n >= 1 for _, n in by_inbound)
    said, logged = stack.replies_logged()
    assert said == logged


@pytest.mark.slow  # about 25 s: 2,000 texts through one gunicorn on a shared machine
def test_fuzzed_webhook_texts_never_get_a_server_error(
    stack_factory: Callable[..., Stack], database: str, redis_url: str, standin: TwilioStandin
) -> None:
    stack = stack_factory(database, redis_url)
    numbers = start(stack, 30)
    plan = FuzzPlan(known=numbers, seed=random.randrange(1 << 30))
    forms = [plan.next() for _ in range(2000)]
    answers = parallel([partial(stack.post, "/sms/inbound", f) for f in forms], threads=8)

    statuses = Counter(status for status, _ in answers)
    unexpected = [
        (status, form)
        for form, (status, _) in zip(forms, answers, strict=True)
        if status not in expected_status(form)
    ]
    assert not unexpected, f"seed {plan.seed}: {statuses}; first: {unexpected[:3]}"
    ok = {
        f["MessageSid"].strip()
        for f, (status, _) in zip(forms, answers, strict=True)
        if status == 200
    }
    counts = stack.inbound_counts()
    assert {sid: counts.get(sid) for sid in ok} == {sid: 1 for sid in ok}
    refused = {
        f["MessageSid"].strip() for f, (s, _) in zip(forms, answers, strict=True) if s == 400
    }
    assert not (refused - ok) & set(counts), "a refused text was stored"
    assert plan.kinds["duplicate"] > 50 and plan.kinds["invalid"] > 100
    # No crash caught and logged inside the app either (a parser raising, say).
    errors = [line for line in stack.log_lines("web") if '"level": "ERROR"' in line]
    assert not errors, errors[:3]
