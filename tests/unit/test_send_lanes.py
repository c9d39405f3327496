"""The send lanes: each text of a batch taken once, in order, by a few threads at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from smsapp.services.outbox.lanes import Lanes


@pytest.fixture
def pool():
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def _drain(lanes: Lanes) -> list:
    done = []
    while not lanes.wait(0.01):
        done.extend(lanes.take())
    return done + lanes.take()


def test_every_item_is_taken_exactly_once_and_started_in_order(pool) -> None:
    started: list[int] = []
    lock = threading.Lock()

    def call(item: int) -> int:
        with lock:
            started.append(item)
        time.sleep(0.001)
        return item * 10

    done = _drain(Lanes(pool, 4, call, range(200)))
    assert sorted(done) == [i * 10 for i in range(200)]
    assert started == sorted(started)  # each lane takes the next text when it is free


def test_no_more_than_lanes_calls_at_once(pool) -> None:
    running = peak = 0
    lock = threading.Lock()

    def call(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        return item

    assert len(_drain(Lanes(pool, 2, call, range(40)))) == 40
    assert peak == 2


def test_a_failing_item_is_kept_as_an_error_and_the_rest_still_run(pool) -> None:
    def call(item: int) -> int | None:
        if item == 3:
            raise RuntimeError("a bug in one call")
        return None if item == 5 else item

    lanes = Lanes(pool, 3, call, range(10))
    done = _drain(lanes)
    assert sorted(done) == [0, 1, 2, 4, 6, 7, 8, 9]
    assert [str(e) for e in lanes.errors] == ["a bug in one call"]


def test_an_empty_batch_finishes_at_once(pool) -> None:
    lanes = Lanes(pool, 4, lambda item: item, [])
    assert lanes.wait(0) and lanes.take() == []


def test_the_job_hears_when_the_texts_left_run_low_while_the_calls_still_go(pool) -> None:
    gate = threading.Event()

    def call(item: int) -> int:
        gate.wait()
        return item

    lanes = Lanes(pool, 2, call, range(6), low_water=4)
    try:
        # Both lanes hold a text, four are left: low, though no call has finished.
        assert lanes.wait(30, or_running_low=True) is False
        assert lanes.running_low
    finally:
        gate.set()
    assert sorted(_drain(lanes)) == list(range(6))
