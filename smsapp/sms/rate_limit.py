"""A per-sender send rate, in segments per second, shared by every worker through Redis.

GCRA (a token bucket kept as one "theoretical arrival time") in a single Lua script, timed by
Redis TIME, so processes on any host agree without trusting their own clocks.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

# Returns 0 when the segments may go now (and books them), else the seconds to wait.
_GCRA = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
-- A request bigger than the burst is let through once the bucket is empty, not starved.
local allow_at = new_tat - math.max(burst, cost) * interval
if allow_at > now then
  return tostring((allow_at - now) / 1000000)
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
  'PX', math.ceil((new_tat - now) / 1000) + 1000)
return '0'
"""

# A slot is a sorted-set member scored by its lease end; expired leases are reclaimed first,
# so a worker that dies mid-call frees its slot when the lease runs out. Takes up to ARGV[4]
# slots at once (members ARGV[3]:1 … ARGV[3]:n) and returns how many it took.
_TAKE_SLOTS = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
local n = math.min(free, tonumber(ARGV[4]))
if n <= 0 then return 0 end
for i = 1, n do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3] .. ':' .. i)
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return n
"""

SLOT_POLL_SECONDS = 0.02


class SendRateLimiter:
    """Holds one sender to ``rate`` segments/second and ``max_concurrent`` API calls in flight."""

    def __init__(
        self,
        redis: redis.Redis,
        *,
        rate: float,
        key: str,
        burst: float | None = None,
        max_concurrent: int | None = None,
        slot_lease: float = 60.0,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.rate = rate
        self.key = key
        # A tenth of a second's worth absorbs sleep jitter without letting the measured rate
        # drift: over ten seconds it adds at most 1% on top of the rate.
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self.max_concurrent = max_concurrent
        self.slot_lease = slot_lease  # longer than any API call's timeout
        self._gcra: Any = redis.register_script(_GCRA)
        self._take_slots: Any = redis.register_script(_TAKE_SLOTS)

    def try_acquire(self, segments: int = 1) -> float:
        """Book ``segments`` now and return 0.0, or return the seconds to wait (nothing booked)."""
        interval_us = 1_000_000 / self.rate
        wait = self._gcra(keys=[self.key], args=[interval_us, self.burst, segments])
        return float(wait)

    def acquire(self, segments: int = 1, *, timeout: float = 30.0) -> bool:
        """Sleep until ``segments`` may be sent; False if that would take longer than timeout."""
        deadline = time.monotonic() + timeout
        while True:
            wait = self.try_acquire(segments)
            if wait <= 0:
                return True
            if time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)

    @contextmanager
    def slots(self, wanted: int, *, timeout: float = 30.0) -> Iterator[int]:
        """Hold between 1 and ``wanted`` of the shared call slots for the block; yields how many.

        A send batch takes its slots once and runs that many calls at a time, instead of two
        Redis round trips around every call. Waits for at least one; TimeoutError if none frees.
        """
        wanted = max(1, wanted)
        if self.max_concurrent is None:
            yield wanted
            return
        slots_key = f"{self.key}:slots"
        token = secrets.token_hex(8)
        deadline = time.monotonic() + timeout
        while True:
            taken = int(
                self._take_slots(
                    keys=[slots_key], args=[self.max_concurrent, self.slot_lease, token, wanted]
                )
            )
            if taken:
                break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no free send slot for {self.key} within {timeout}s")
            time.sleep(SLOT_POLL_SECONDS)
        try:
            yield taken
        finally:
            self.redis.zrem(slots_key, *(f"{token}:{i}" for i in range(1, taken + 1)))
