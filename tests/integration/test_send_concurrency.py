"""A send job hides Twilio's answer time by making several calls at once, never more than the
sender's call slots allow, and still sends every text exactly once."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from smsapp.models import OutboundStatus
from smsapp.runtime import Runtime
from smsapp.services.outbox import sending
from tests.support.factories import NOON, launch, make_poll, messages, people
from tests.support.twilio_standin import TwilioStandin

ANSWER_TIME = 0.2  # seconds the stand-in takes to answer each call, as Twilio might


class CountingStandin(TwilioStandin):
    """Counts the API calls it is answering at the same moment."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.peak = 0
        self._count = threading.Lock()

    def _before_api_call(self) -> None:
        with self._count:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        try:
            super()._before_api_call()
        finally:
            with self._count:
                self.inside -= 1


@pytest.fixture
def standin() -> Iterator[CountingStandin]:
    server = CountingStandin()
    server.start()
    server.set_delay(ANSWER_TIME)
    yield server
    server.stop()


def with_sending(runtime: Runtime, base_url: str, **overrides: object) -> Runtime:
    settings = runtime.settings.with_overrides(
        sms_backend="twilio", twilio_api_base_url=base_url, send_rate=1000.0, **overrides
    )
    return dataclasses.replace(runtime, settings=settings)


def test_calls_overlap_so_a_slow_provider_does_not_slow_the_batch(
    runtime: Runtime, standin: CountingStandin
) -> None:
    rt = with_sending(
        runtime, standin.base_url, send_threads=8, max_concurrent_sends=8, send_jobs=1
    )
    make_poll(rt)
    people(rt, 16)
    launch(rt)
    started = time.monotonic()
    report = sending.send_batch(rt, NOON)
    took = time.monotonic() - started
    assert report.sent == 16
    # One at a time would take 16 x 0.2 = 3.2 s; eight at a time about 0.4 s.
    assert took < 16 * ANSWER_TIME / 2, took
    assert 2 <= standin.peak <= 8
    numbers = [m["to"] for m in standin.recorded()]
    assert len(numbers) == len(set(numbers)) == 16
    assert {m.status for m in messages(rt)} == {OutboundStatus.SENT}


def test_never_more_calls_at_once_than_the_senders_slots(
    runtime: Runtime, standin: CountingStandin
) -> None:
    # Eight threads, but the sender allows two calls in flight, shared by four send jobs:
    # this job gets its share (at least one), and never more than two.
    rt = with_sending(
        runtime, standin.base_url, send_threads=8, max_concurrent_sends=2, send_jobs=4
    )
    make_poll(rt)
    people(rt, 6)
    launch(rt)
    report = sending.send_batch(rt, NOON)
    assert report.sent == 6
    assert standin.peak == 1  # ceil(2 / 4 jobs) = one slot for this job
    rt = with_sending(
        runtime, standin.base_url, send_threads=8, max_concurrent_sends=2, send_jobs=1
    )
    # One send job for the sender: it may take both slots.
    people(rt, 6, start=300)
    make_poll(rt, slug="second")
    launch(rt, slug="second")  # the six new members (the first six are busy in the first poll)
    standin.peak = 0
    report = sending.send_batch(rt, NOON)
    assert report.sent == 6 and standin.peak == 2
