"""Real `smsapp worker` processes, real Redis, the Twilio stand-in: exactly N texts for N people.

A worker killed with SIGKILL mid-launch, or a Redis flushed mid-launch, still ends with each
young person texted exactly once; two workers together hold the shared send rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from smsapp.migrate import upgrade
from smsapp.models import OutboundStatus
from tests.support.databases import throwaway_database
from tests.support.factories import POLL_YAML
from tests.support.stack import Stack
from tests.support.twilio_standin import TwilioStandin

pytestmark = pytest.mark.redis

SLUG = "name-our-group"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A committed database the worker processes can see (not the rolled-back test one)."""
    with throwaway_database("smsapp_e2e", tmp_path) as url:
        upgrade(url)
        yield url


class TimedStandin(TwilioStandin):
    """The stand-in, noting when each message arrived (for the rate check)."""

    arrivals: list[tuple[float, int]]

    def create_message(self, account: str, form: dict[str, list[str]]) -> dict[str, Any]:
        message = super().create_message(account, form)
        with self.lock:
            self.arrivals.append((time.monotonic(), int(message["num_segments"])))
        return message


@pytest.fixture
def standin() -> Iterator[TimedStandin]:
    server = TimedStandin()
    server.arrivals = []
    with server:
        yield server


@pytest.fixture
def stack(
    database: str, redis_url: str, standin: TimedStandin, tmp_path: Path
) -> Iterator[Callable[..., Stack]]:
    """make(rate=...) -> a Stack with a poll for everyone in it, and workers but no clock: the
    test ticks the clock itself (Stack.wait_ticking)."""
    with ExitStack() as stacks:

        def make(rate: float = 1000.0) -> Stack:
            s = Stack(database, redis_url, standin, rate=rate, logs=tmp_path)
            return stacks.enter_context(s)

        yield make


def populate(s: Stack, n: int) -> list[str]:
    return s.populate(n, POLL_YAML.format(slug=SLUG, group="oakfield"))


def assert_exactly_once(stack: Stack, standin: TwilioStandin, numbers: list[str]) -> None:
    received = sorted(m["to"] for m in standin.recorded())
    assert received == sorted(numbers), "someone was texted twice, or not at all"
    assert stack.statuses() == {OutboundStatus.SENT: len(numbers)}


def wait_for_arrivals(standin: TwilioStandin, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(standin.recorded()) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(standin.recorded()) >= n


def test_sigkill_a_worker_mid_launch_still_exactly_n(
    stack: Callable[..., Stack], standin: TimedStandin
) -> None:
    n = 60
    s = stack()
    numbers = populate(s, n)
    standin.set_delay(0.02)  # slow enough to catch the worker mid-launch
    first = s.start_worker()
    assert s.launch(SLUG) == n
    wait_for_arrivals(standin, 15)
    s.kill(first)
    partial = len(standin.recorded())
    assert partial < n, "the launch finished before the kill: nothing was tested"
    # The killed worker left claimed texts in `sending`. Usually some of them had reached
    # Twilio before their outcome was written, and only asking Twilio (reconcile_stuck) tells
    # those from the ones never sent; on a loaded machine the worker may have written every
    # outcome just before the kill, so that part is not asserted (test_sending covers it).
    at_kill = s.statuses()
    assert at_kill.get(OutboundStatus.SENDING, 0) > 0
    s.start_worker()
    assert s.wait_ticking(lambda: s.statuses() == {OutboundStatus.SENT: n}, timeout=40)
    assert_exactly_once(s, standin, numbers)


def test_flush_redis_mid_launch_still_exactly_n(
    stack: Callable[..., Stack], standin: TimedStandin, redis_client: Any
) -> None:
    n = 60
    s = stack()
    numbers = populate(s, n)
    standin.set_delay(0.02)
    s.start_worker()
    s.launch(SLUG)
    wait_for_arrivals(standin, 10)
    redis_client.flushdb()  # the queue, the rate limiter and RQ's registries: all gone
    assert len(standin.recorded()) < n
    assert s.wait_ticking(lambda: s.statuses() == {OutboundStatus.SENT: n}, timeout=40)
    assert_exactly_once(s, standin, numbers)


def test_two_workers_hold_the_shared_rate(
    stack: Callable[..., Stack], standin: TimedStandin
) -> None:
    rate = 20.0
    n = 40
    s = stack(rate=rate)
    numbers = populate(s, n)
    s.start_worker()
    s.start_worker()
    time.sleep(1.0)  # both workers up before the launch, so both take part
    s.launch(SLUG)
    threading.Thread(target=s.clock_tick, daemon=True).start()
    assert s.wait_ticking(lambda: s.statuses() == {OutboundStatus.SENT: n}, timeout=60)
    assert_exactly_once(s, standin, numbers)
    arrivals = sorted(standin.arrivals)
    times = [t for t, _ in arrivals]
    segments = sum(seg for _, seg in arrivals)
    # The first burst's worth is free; after that the rate holds.
    burst = max(1.0, rate / 10)
    span = times[-1] - times[0]
    assert (segments - burst - 2) / rate <= span
    # No one-second window holds more than the rate plus the burst (plus one text's segments).
    most = max(seg for _, seg in arrivals)
    for i, start in enumerate(times):
        in_window = sum(seg for t, seg in arrivals[i:] if t < start + 1.0)
        assert in_window <= rate + burst + most
