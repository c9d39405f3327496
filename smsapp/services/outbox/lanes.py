"""A send job's API calls in flight: at most ``lanes`` at once, on the process's send threads.

Each thread keeps its own Twilio transport (provider.transport_for), so its HTTP connection
stays open from one call to the next. Finished outcomes wait here until the job writes them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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
    """Runs calls on a pool, ``lanes`` at a time, and collects what they return."""

    def __init__(self, pool: ThreadPoolExecutor, lanes: int) -> None:
        self.pool = pool
        self._free = threading.Semaphore(max(1, lanes))
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running = 0
        self._done: list[Any] = []
        self.errors: list[BaseException] = []

    def start(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` as soon as a lane is free (waits for one)."""
        self._free.acquire()
        with self._lock:
            self._running += 1
        try:
            future = self.pool.submit(fn, *args)
        except BaseException:
            self._finish(None, None)
            raise
        future.add_done_callback(self._finished)

    def _finished(self, future: Future[Any]) -> None:
        error = future.exception()
        self._finish(error, None if error is not None else future.result())

    def _finish(self, error: BaseException | None, result: Any) -> None:
        with self._lock:
            if error is not None:
                self.errors.append(error)
            elif result is not None:
                self._done.append(result)
            self._running -= 1
            self._idle.notify_all()
        self._free.release()

    def take(self) -> list[Any]:
        """What finished since the last take."""
        with self._lock:
            done, self._done = self._done, []
        return done

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for every call to finish; True when none is running."""
        with self._lock:
            return self._idle.wait_for(lambda: self._running == 0, timeout)
