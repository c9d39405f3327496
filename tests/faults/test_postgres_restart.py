"""PostgreSQL restarted (fast, then immediate) under inbound load, on a private cluster: the
running gunicorn recovers by itself, and the only texts not stored are ones that got an error.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial

import pytest

from smsapp.models import OutboundStatus
from tests.support.stack import PrivatePostgres, Stack, new_sid, parallel, wait_for
from tests.support.twilio_standin import TwilioStandin

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LOAD_THREADS = 8
MAX_TEXTS = 4000  # bounds the load whatever the timing


@pytest.mark.slow  # about 25 s: load, two restarts, recovery
def test_postgres_restarted_under_inbound_load(
    private_postgres: PrivatePostgres,  # first, so it is torn down after the processes
    private_database: str,
    stack_factory: Callable[..., Stack],
    redis_url: str,
    standin: TwilioStandin,
) -> None:
    stack = stack_factory(private_database, redis_url)
    numbers = stack.populate(30)
    web = stack.start_web()
    stack.start_worker()
    stack.start_clock()
    stack.launch()
    assert wait_for(lambda: stack.statuses() == {OutboundStatus.SENT: 30}, 30)

    results: list[tuple[str, int]] = []
    stop = threading.Event()

    def load(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set() and len(results) < MAX_TEXTS:
            sid = new_sid()
            _, status = stack.text(rng.choice(numbers), rng.choice("abc12"), sid)
            results.append((sid, status))

    threads = [threading.Thread(target=load, args=(i,)) for i in range(LOAD_THREADS)]
    for t in threads:
        t.start()
    try:
        time.sleep(3)
        before_fast = len(results)
        private_postgres.restart("fast")
        time.sleep(4)
        private_postgres.restart("immediate")  # a crash, as far as the app can tell
        time.sleep(4)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert before_fast > 0, "no load before the restart"

    # Recovered without restarting anything: every new text is answered and stored.
    after = parallel([partial(stack.text, numbers[0], "help") for _ in range(20)], threads=4)
    assert [status for _, status in after] == [200] * 20
    assert web.poll() is None, "gunicorn died"

    statuses = Counter(status for _, status in results)
    print(f"statuses under restarts: {dict(statuses)}")
    stored = stack.inbound_counts()
    answered_ok = {sid for sid, status in results if status == 200}
    failed = {sid for sid, status in results if status != 200}
    assert {sid: stored.get(sid) for sid in answered_ok} == {sid: 1 for sid in answered_ok}
    lost = {sid for sid, _ in results} - set(stored)
    assert lost <= failed, "a text answered 200 was not stored"
    assert all(stored.get(sid) == 1 for sid, _ in after)
    assert statuses[200] > len(results) / 2
