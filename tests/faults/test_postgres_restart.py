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
import sqlalchemy as sa

from smsapp.models import InboundMessage, OutboundStatus
from tests.support.stack import PrivatePostgres, Stack, new_sid, number, parallel, wait_for
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

    # Recovered without restarting anything: every new text is answered and handled, on the
    # full path (HELP) and on the lean one (answers, and unknown numbers), whose connections
    # come from the same pool but are used by psycopg directly (smsapp/pgdirect.py).
    texts = [partial(stack.text, numbers[0], "help") for _ in range(10)]
    texts += [partial(stack.text, numbers[i], "a") for i in range(1, 11)]
    texts += [partial(stack.text, number(900 + i), "hello") for i in range(5)]
    after = parallel(texts, threads=4)
    assert [status for _, status in after] == [200] * len(texts)
    assert web.poll() is None, "gunicorn died"
    with stack.runtime.db.transaction() as s:
        routes = dict(
            s.execute(
                sa.select(InboundMessage.message_sid, InboundMessage.route).where(
                    InboundMessage.message_sid.in_([sid for sid, _ in after])
                )
            ).all()
        )
    assert "error" not in routes.values(), routes

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
