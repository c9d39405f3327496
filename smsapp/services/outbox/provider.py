"""The provider side of sending: the process's Twilio transport and the per-sender rate limit.

Both are cached per process: the transport holds an HTTP session, and the local limiter (used
when there is no Redis) holds the rate's state for every send job in the process.
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


_transports: dict[tuple[Any, ...], Any] = {}
_cache_lock = threading.Lock()


def transport_for(runtime: Runtime) -> Transport | None:
    """The process's Twilio transport (one per process: it holds an HTTP session)."""
    s = runtime.settings
    if not (s.twilio_account_sid and s.twilio_auth_token):
        return None
    if not (s.twilio_from_number or s.twilio_messaging_service_sid):
        return None
    key = (
        os.getpid(),
        s.twilio_account_sid,
        s.twilio_from_number,
        s.twilio_messaging_service_sid,
        s.twilio_api_base_url,
    )
    with _cache_lock:
        found = _transports.get(key)
        if found is None:
            found = TwilioTransport(
                s.twilio_account_sid,
                s.twilio_auth_token,
                from_number=s.twilio_from_number,
                messaging_service_sid=s.twilio_messaging_service_sid,
                base_url=s.twilio_api_base_url,
                timeout=s.twilio_timeout,
            )
            _transports[key] = found
        return found  # type: ignore[no-any-return]


class Limiter(Protocol):
    def acquire(self, segments: int = 1, *, timeout: float = 30.0) -> bool: ...

    def concurrency(self, *, timeout: float = 30.0) -> Any: ...


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
    def concurrency(self, *, timeout: float = 30.0) -> Iterator[None]:
        if self._slots is None:
            yield
            return
        if not self._slots.acquire(timeout=timeout):
            raise TimeoutError("no free send slot")
        try:
            yield
        finally:
            self._slots.release()


_local_limiters: dict[tuple[str, float], LocalRateLimiter] = {}


def sender_key(runtime: Runtime) -> str:
    s = runtime.settings
    return f"smsapp:rate:{s.twilio_from_number or s.twilio_messaging_service_sid or 'outbox'}"


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
            slot_lease=max(60.0, s.twilio_timeout * 3),
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
