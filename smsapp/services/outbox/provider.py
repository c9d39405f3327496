"""The provider side of sending: the Twilio transports and the per-sender rate limit.

A transport is cached per thread of a process: each holds one HTTP session whose connection
stays open from one send to the next (a send job's threads each keep their own). The local
limiter (used when there is no Redis) holds the rate's state for every send job in the process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from smsapp.runtime import Runtime
from smsapp.services.outbox.claims import claim_hold
from smsapp.sms.rate_limit import SendRateLimiter
from smsapp.sms.twilio_transport import SentMessage, TwilioTransport


class Transport(Protocol):
    def send(
        self,
        to: str,
        body: str,
        *,
        status_callback: str | None = None,
        validity_period: int | None = None,
    ) -> SentMessage: ...

    def find_sent(self, to: str, body: str, since: datetime) -> SentMessage | None: ...


_transports = threading.local()
_cache_lock = threading.Lock()


def has_transport(runtime: Runtime) -> bool:
    """Whether Twilio credentials and a sender are configured."""
    s = runtime.settings
    return bool(
        s.twilio_account_sid
        and s.twilio_auth_token
        and (s.twilio_from_number or s.twilio_messaging_service_sid)
    )


def transport_for(runtime: Runtime) -> Transport | None:
    """This thread's Twilio transport: one HTTP session, kept alive across sends."""
    s = runtime.settings
    if not (has_transport(runtime) and s.twilio_account_sid and s.twilio_auth_token):
        return None
    key = (
        os.getpid(),
        s.twilio_account_sid,
        s.twilio_from_number,
        s.twilio_messaging_service_sid,
        s.twilio_api_base_url,
    )
    cache: dict[tuple[Any, ...], TwilioTransport] | None = getattr(_transports, "cache", None)
    if cache is None:
        cache = _transports.cache = {}
    found = cache.get(key)
    if found is None:
        found = cache[key] = TwilioTransport(
            s.twilio_account_sid,
            s.twilio_auth_token,
            from_number=s.twilio_from_number,
            messaging_service_sid=s.twilio_messaging_service_sid,
            base_url=s.twilio_api_base_url,
            timeout=s.twilio_timeout,
        )
    return found


class Limiter(Protocol):
    """The shared send rate (GCRA: ``rate`` segments/s, ``burst`` at once) and call slots."""

    rate: float
    burst: float

    def acquire(self, segments: int = 1, *, timeout: float = 30.0) -> bool: ...

    def slots(self, wanted: int, *, timeout: float = 30.0) -> Any: ...


class LocalRateLimiter:
    """The same contract as the Redis limiter, for one process (embedded mode, no Redis)."""

    def __init__(self, rate: float, max_concurrent: int | None) -> None:
        self.rate = rate
        self.burst = max(1.0, rate / 10)
        self._tat = 0.0
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None

    def acquire(self, segments: int = 1, *, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        interval = 1.0 / self.rate
        while True:
            with self._lock:
                now = time.monotonic()
                tat = max(self._tat, now)
                new_tat = tat + segments * interval
                allow_at = new_tat - max(self.burst, segments) * interval
                if allow_at <= now:
                    self._tat = new_tat
                    return True
                wait = allow_at - now
            if now + wait > deadline:
                return False
            time.sleep(wait)

    @contextmanager
    def slots(self, wanted: int, *, timeout: float = 30.0) -> Iterator[int]:
        """Hold between 1 and ``wanted`` call slots for the block (as the Redis limiter does)."""
        wanted = max(1, wanted)
        if self._slots is None:
            yield wanted
            return
        if not self._slots.acquire(timeout=timeout):
            raise TimeoutError("no free send slot")
        taken = 1
        while taken < wanted and self._slots.acquire(blocking=False):
            taken += 1
        try:
            yield taken
        finally:
            for _ in range(taken):
                self._slots.release()


_local_limiters: dict[tuple[str, float], LocalRateLimiter] = {}


def sender_key(runtime: Runtime) -> str:
    s = runtime.settings
    return f"smsapp:rate:{s.twilio_from_number or s.twilio_messaging_service_sid or 'outbox'}"


JOB_BUDGET = 20.0  # seconds one send job runs batches before handing over to the next


def slot_lease(runtime: Runtime) -> float:
    """How long a send job's call slots last if its worker dies holding them: longer than the
    job can hold them (its batches for JOB_BUDGET, then the last one: claims.claim_hold to
    start its calls, then a look-up and a send each)."""
    calls = 3 * runtime.settings.twilio_timeout
    return max(60.0, JOB_BUDGET + claim_hold(runtime).total_seconds() + calls + 5.0)


def send_threads(runtime: Runtime) -> int:
    """API calls one send job makes at once at most (SMSAPP_SEND_THREADS)."""
    return max(1, runtime.settings.send_threads)


def send_lanes(runtime: Runtime) -> int:
    """Call slots one send job asks for: its threads, but no more than its share of the
    sender's SMSAPP_MAX_CONCURRENT_SENDS among SMSAPP_SEND_JOBS, so the jobs send side by side
    rather than one taking every slot while the others wait."""
    s = runtime.settings
    threads = send_threads(runtime)
    if not s.max_concurrent_sends:
        return threads
    share = -(-s.max_concurrent_sends // max(1, s.send_jobs))
    return max(1, min(threads, share))


def limiter_for(runtime: Runtime) -> Limiter:
    """The per-sender limit in segments/second, shared through Redis when there is one."""
    s = runtime.settings
    redis = runtime.redis()
    if redis is not None:
        return SendRateLimiter(
            redis,
            rate=s.send_rate,
            key=sender_key(runtime),
            max_concurrent=s.max_concurrent_sends or None,
            slot_lease=slot_lease(runtime),
        )
    key = (sender_key(runtime), s.send_rate)
    with _cache_lock:
        found = _local_limiters.get(key)
        if found is None:
            found = _local_limiters[key] = LocalRateLimiter(
                s.send_rate, s.max_concurrent_sends or None
            )
    return found


def status_callback_url(runtime: Runtime) -> str | None:
    base = runtime.settings.public_base_url
    return f"{base}/sms/status" if base else None
