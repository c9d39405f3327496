"""The shared send rate holds across processes, using a real Redis (db 15, flushed per test)."""

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from smsapp.sms.rate_limit import SendRateLimiter

REDIS_URL = "redis://127.0.0.1:6379/15"
pytestmark = pytest.mark.redis
FORK = multiprocessing.get_context("fork")


@pytest.fixture
def db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _send_until(rate: float, key: str, start: float, stop: float, counts) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    limiter = SendRateLimiter(client, rate=rate, key=key)
    time.sleep(max(0.0, start - time.time()))
    sent = 0
    while True:
        allowed = limiter.acquire(timeout=1.0)
        if time.time() >= stop:
            break
        if allowed:
            sent += 1
    counts.put(sent)


def _run_workers(rate: float, processes: int, seconds: float) -> int:
    """Segments sent by ``processes`` workers sharing one limiter for ``seconds``."""
    counts = FORK.Queue()
    start = time.time() + 0.3  # let every process get going before the clock starts
    workers = [
        FORK.Process(
            target=_send_until,
            args=(rate, "rate:test", start, start + seconds, counts),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total = sum(counts.get(timeout=seconds + 10) for _ in workers)
    for worker in workers:
        worker.join(timeout=5)
    return total


def test_two_processes_share_one_rate(db: redis.Redis):
    total = _run_workers(rate=20, processes=2, seconds=3)
    assert 54 <= total <= 66  # 60 ± 10%


def test_multi_segment_messages_use_up_more_of_the_rate(db: redis.Redis):
    limiter = SendRateLimiter(db, rate=60, key="rate:long", burst=3)
    started = time.monotonic()
    for _ in range(11):
        assert limiter.acquire(3, timeout=1.0)
    # The first goes at once; each later one waits for 3 segments at 60/s, i.e. 50 ms.
    assert 0.45 <= time.monotonic() - started <= 0.6


def test_acquire_gives_up_at_its_timeout_without_booking(db: redis.Redis):
    limiter = SendRateLimiter(db, rate=1, key="rate:slow", burst=1)
    assert limiter.acquire(timeout=0.1)
    started = time.monotonic()
    assert not limiter.acquire(timeout=0.2)
    assert time.monotonic() - started < 0.15  # it knew it could not make it, so did not wait
    # The refused call booked nothing, so the next one waits only the rest of the second.
    started = time.monotonic()
    assert limiter.acquire(timeout=2.0)
    assert 0.7 < time.monotonic() - started < 1.2


def test_message_bigger_than_the_burst_still_goes(db: redis.Redis):
    limiter = SendRateLimiter(db, rate=10, key="rate:big", burst=1)
    assert limiter.acquire(5, timeout=0.1)
    assert limiter.try_acquire(1) > 0.4  # then the bucket owes 5 segments' worth of time


def test_senders_have_separate_limits(db: redis.Redis):
    first = SendRateLimiter(db, rate=1, key="rate:first", burst=1)
    second = SendRateLimiter(db, rate=1, key="rate:second", burst=1)
    assert first.acquire(timeout=0) and second.acquire(timeout=0)
    assert first.try_acquire() > 0 and second.try_acquire() > 0


def test_concurrency_is_capped(db: redis.Redis):
    limiter = SendRateLimiter(db, rate=1000, key="rate:calls", max_concurrent=2)
    lock = threading.Lock()
    inside = peak = 0

    def call() -> None:
        nonlocal inside, peak
        with limiter.slots(1, timeout=5):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2
    assert db.zcard("rate:calls:slots") == 0


def _die_holding_a_slot() -> None:
    limiter = SendRateLimiter(
        redis.Redis.from_url(REDIS_URL),
        rate=10,
        key="rate:crash",
        max_concurrent=1,
        slot_lease=0.5,
    )
    with limiter.slots(1):
        os._exit(0)  # a worker killed mid-call never releases


def test_crashed_worker_slot_expires(db: redis.Redis):
    crashed = FORK.Process(target=_die_holding_a_slot)
    crashed.start()
    crashed.join(timeout=5)
    limiter = SendRateLimiter(db, rate=10, key="rate:crash", max_concurrent=1, slot_lease=0.5)
    with pytest.raises(TimeoutError), limiter.slots(1, timeout=0.05):
        pass
    started = time.monotonic()
    with limiter.slots(1, timeout=2):
        assert time.monotonic() - started < 0.7
