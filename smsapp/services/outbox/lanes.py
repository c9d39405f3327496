"""A send job's API calls in flight: ``lanes`` threads of the process's pool, each taking the
batch's next text itself until none is left.

Each thread keeps its own Twilio transport (provider.transport_for), so its HTTP connection
stays open from one call to the next. The lanes pull their work rather than being handed each
text: a hand-off per text (a future, a semaphore and two thread wake-ups) cost a send job about a
fifth of its CPU. Finished outcomes wait here until the job writes them. The job is told once
when the texts not yet taken fall to ``low_water``, so it can claim the next batch in time.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def send_pool(threads: int) -> ThreadPoolExecutor:
    """The process's send threads (made again in a forked child: threads do not survive fork)."""
    key = (os.getpid(), threads)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ThreadPoolExecutor(
                max_workers=threads, thread_name_prefix="smsapp-send"
            )
        return pool


class Lanes:
    """Runs ``fn`` over ``items`` in order on ``lanes`` pool threads, and collects what it returns.

    An item whose ``fn`` raises is left out (its error is kept in ``errors``) and the lane goes
    on with the next, so one bad text does not strand the rest of the batch.
    """

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        lanes: int,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        low_water: int = -1,
    ) -> None:
        self._fn = fn
        self._todo = deque(items)
        self._low_water = low_water
        self._low_told = False
        self._done: deque[Any] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.errors: list[BaseException] = []
        self._running = min(max(1, lanes), len(self._todo))
        for started in range(self._running):
            try:
                pool.submit(self._lane)
            except BaseException:
                with self._lock:
                    self._running = started  # the lanes that did start
                    self._idle.notify_all()
                raise

    def _lane(self) -> None:
        todo, done, fn = self._todo, self._done, self._fn
        try:
            while True:
                try:
                    item = todo.popleft()  # atomic: two lanes never take the same text
                except IndexError:
                    return
                if not self._low_told and len(todo) <= self._low_water:
                    self._low_told = True  # once per batch (twice at worst: harmless)
                    with self._lock:
                        self._idle.notify_all()
                try:
                    result = fn(item)
                except BaseException as exc:  # noqa: BLE001  (kept and raised by the job)
                    self.errors.append(exc)
                    continue
                if result is not None:
                    done.append(result)
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self._idle.notify_all()

    def take(self) -> list[Any]:
        """What finished since the last take."""
        done = self._done
        return [done.popleft() for _ in range(len(done))]

    @property
    def running_low(self) -> bool:
        """Whether the items not yet taken are down to ``low_water``."""
        return len(self._todo) <= self._low_water

    def wait(self, timeout: float, *, or_running_low: bool = False) -> bool:
        """Wait up to ``timeout`` for every lane to finish (or, with ``or_running_low``, for the
        items not yet taken to fall to ``low_water``); True when none is running."""
        with self._lock:
            self._idle.wait_for(
                lambda: self._running == 0 or (or_running_low and self.running_low), timeout
            )
            return self._running == 0
