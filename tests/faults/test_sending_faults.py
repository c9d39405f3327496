"""Launches through real gunicorn, `smsapp worker` and `smsapp clock` processes while things go
wrong: workers SIGKILLed, Redis flushed or restarted empty, Twilio refusing or slow, and status
callbacks arriving twice and out of order.

Invariant: every participant due a text gets exactly one, and everything due is eventually sent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.models import OutboundMessage, OutboundStatus, Participant, ParticipantStatus
from tests.support.stack import PrivateRedis, Stack, parallel, wait_for
from tests.support.twilio_standin import TwilioStandin

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def start(stack: Stack, participants: int, workers: int = 1) -> list[str]:
    numbers = stack.populate(participants)
    stack.start_web()
    for _ in range(workers):
        stack.start_worker()
    stack.start_clock()
    time.sleep(1.0)  # workers listening before the launch, so the launch is what they do
    return numbers


def wait_for_arrivals(standin: TwilioStandin, n: int, timeout: float = 20) -> int:
    wait_for(lambda: len(standin.recorded()) >= n, timeout, every=0.01)
    return len(standin.recorded())


def assert_everyone_texted_once(
    stack: Stack, standin: TwilioStandin, numbers: list[str], timeout: float = 60
) -> None:
    done = wait_for(lambda: stack.statuses() == {OutboundStatus.SENT: len(numbers)}, timeout)
    assert done, f"not all sent after {timeout}s: {stack.statuses()}"
    received = sorted(m["to"] for m in standin.recorded())
    twice = {n for n in received if received.count(n) > 1}
    assert not twice, f"texted twice: {sorted(twice)[:5]}"
    assert received == sorted(numbers)


@pytest.mark.slow  # ten kills, then the clock's 30-second reconcile of the dead workers' claims
def test_a_worker_sigkilled_mid_launch_ten_times(
    stack_factory: Callable[..., Stack], database: str, redis_url: str, standin: TwilioStandin
) -> None:
    n = 150
    stack = stack_factory(database, redis_url, rate=25.0)
    numbers = start(stack, n, workers=2)
    standin.set_delay(0.05)  # each call in flight for a while, so kills land mid-call too
    stack.launch()
    rng = random.Random(7)
    at_kill: list[int] = []
    left_sending: list[int] = []  # claims the dead worker held, until someone resolves them
    for _ in range(10):
        wait_for_arrivals(standin, len(standin.recorded()) + 3, timeout=15)
        victim = rng.choice(stack.live("worker"))
        stack.kill(victim)
        at_kill.append(len(standin.recorded()))
        left_sending.append(stack.statuses().get(OutboundStatus.SENDING, 0))
        stack.start_worker()  # what the platform does when a process dies
    assert len(at_kill) == 10
    assert at_kill[-1] < n, f"the launch finished before the tenth kill: {at_kill}"
    print(f"texts at Twilio at each kill: {at_kill}; rows left in sending: {left_sending}")
    assert any(left_sending), "no kill caught a worker holding claimed texts"
    assert_everyone_texted_once(stack, standin, numbers, timeout=120)


def test_redis_flushed_mid_launch(
    stack_factory: Callable[..., Stack],
    database: str,
    redis_url: str,
    redis_client: Any,
    standin: TwilioStandin,
) -> None:
    n = 60
    stack = stack_factory(database, redis_url, rate=30.0)
    numbers = start(stack, n)
    standin.set_delay(0.02)
    stack.launch()
    wait_for_arrivals(standin, 10)
    redis_client.flushdb()  # the queue, the rate limiter, RQ's registries: all gone
    assert len(standin.recorded()) < n, "the launch finished before the flush"
    assert_everyone_texted_once(stack, standin, numbers)


@pytest.mark.slow  # Redis down for two seconds, then the processes find it again
def test_private_redis_killed_and_restarted_empty_mid_launch(
    stack_factory: Callable[..., Stack],
    database: str,
    private_redis: PrivateRedis,
    standin: TwilioStandin,
) -> None:
    n = 60
    stack = stack_factory(database, private_redis.url, rate=20.0)
    numbers = start(stack, n)
    stack.launch()
    wait_for_arrivals(standin, 10)
    private_redis.kill()
    assert len(standin.recorded()) < n, "the launch finished before Redis went"
    time.sleep(2.0)
    private_redis.start()  # same port, nothing in it
    # Worker and clock reconnect by themselves: no process may have died.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stack.statuses() == {OutboundStatus.SENT: n}:
            break
        assert stack.live("worker") and stack.live("clock"), "a process died with Redis"
        time.sleep(0.5)
    assert_everyone_texted_once(stack, standin, numbers, timeout=5)


def test_twilio_answering_429_500_and_slowly(
    stack_factory: Callable[..., Stack], database: str, redis_url: str, standin: TwilioStandin
) -> None:
    n = 30
    stack = stack_factory(database, redis_url)
    stack.env["TWILIO_TIMEOUT"] = "1"  # so a slow answer is also a timed-out one
    numbers = start(stack, n)
    standin.fail_next(6, status=429, code=20429)
    standin.fail_next(6, status=500, code=20500)
    standin.set_delay(0.3)  # slow, within the timeout
    stack.launch()
    wait_for_arrivals(standin, 5)
    # Slower than the timeout for a while: Twilio gets the text, we never hear back, and the
    # next attempt must ask Twilio before sending again.
    standin.set_delay(1.5)
    time.sleep(3.0)
    standin.set_delay(0.0)
    assert_everyone_texted_once(stack, standin, numbers)
    assert standin.request_count >= n + 12  # every refusal cost one more request


def test_status_callbacks_duplicated_and_out_of_order(
    stack_factory: Callable[..., Stack], database: str, redis_url: str, standin: TwilioStandin
) -> None:
    n = 20
    stack = stack_factory(database, redis_url)
    numbers = start(stack, n)
    stack.launch()
    assert_everyone_texted_once(stack, standin, numbers)
    sids = sorted(m["sid"] for m in standin.recorded())
    rng = random.Random(3)
    # Each message's life as Twilio reports it; the last word is the furthest step.
    lives = {}
    for i, sid in enumerate(sids):
        if i % 5 == 0:
            lives[sid] = [("sent", None), ("undelivered", 30003)]
        elif i % 7 == 0:
            lives[sid] = [("sent", None), ("failed", 21610)]  # the young person texted STOP
        else:
            lives[sid] = [("queued", None), ("sent", None), ("delivered", None)]
    final = {sid: life[-1][0] for sid, life in lives.items()}
    callbacks = [(sid, status, code) for sid, life in lives.items() for status, code in life]
    callbacks = [c for c in callbacks for _ in range(3)]  # every callback delivered three times
    callbacks.append(("SM" + "f" * 32, "delivered", None))  # not one of ours
    rng.shuffle(callbacks)
    answers = parallel([partial(stack.status_callback, *c) for c in callbacks], threads=8)
    assert set(answers) == {200}

    with stack.runtime.db.transaction() as s:
        rows = s.execute(
            sa.select(OutboundMessage.twilio_sid, OutboundMessage.status, Participant.status)
            .join(Participant, Participant.id == OutboundMessage.participant_id)
            .where(OutboundMessage.twilio_sid.is_not(None))
        ).all()
    assert {sid: status for sid, status, _ in rows} == final
    opted_out = {sid for sid, _, who in rows if who == ParticipantStatus.OPTED_OUT}
    assert opted_out == {sid for sid, life in lives.items() if life[-1][1] == 21610}
