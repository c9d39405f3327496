"""Send claimed texts: call Twilio (or the outbox), record what happened, start the send jobs.

The database is the source of truth. A row is marked ``sending`` before the API call
(outbox/claims.py), and its Twilio SID recorded after. A row left in ``sending`` by a crashed
worker is looked up at Twilio before it is queued again (outbox/reconcile.py), and so is a row
whose last attempt got no answer, so a crash or a timeout never texts a young person twice.

A batch costs a fixed number of statements whatever its size: the claim, the assent check and
one write of the outcomes (outbox/outcomes.py), or one a second for a batch that runs longer,
so a status callback finds its message's SID soon after the send. Its calls run on a few
threads at once (outbox/lanes.py), each with its own kept-alive HTTP connection, within the
sender's shared rate, booked a quarter of a burst at a time (SMSAPP_SEND_RATE,
sms/rate_limit.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta

from smsapp import queue
from smsapp.db import utcnow
from smsapp.models import OutboundStatus
from smsapp.runtime import Runtime
from smsapp.services.outbox.claims import Claimed, claim_due, claim_hold, has_due, why_not_send
from smsapp.services.outbox.lanes import Lanes, send_pool
from smsapp.services.outbox.outcomes import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    MAX_SEND_ATTEMPTS,
    SendOutcome,
    backoff,
    outcome_of_error,
    record_outcomes,
)
from smsapp.services.outbox.provider import (
    JOB_BUDGET,
    Limiter,
    has_transport,
    limiter_for,
    send_lanes,
    send_threads,
    status_callback_url,
    transport_for,
)
from smsapp.sms.twilio_transport import SendError

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "MAX_SEND_ATTEMPTS",
    "SendOutcome",
    "SendReport",
    "backoff",
    "kick_senders",
    "record_outcomes",
    "run_send_job",
    "send_batch",
    "send_due",
    "try_kick_senders",
]

log = logging.getLogger(__name__)

SEND_JOB = "jobs.sending.send_due"
TWILIO_MAX_VALIDITY = 36_000  # seconds: Twilio's own ceiling (and default) for ValidityPeriod
MAX_BATCH = 500  # rows one claim takes at most
RECORD_INTERVAL = 1.0  # seconds: a long batch writes what has finished at least this often
SLOT_WAIT = 30.0  # seconds a send job waits for a free call slot before leaving it to others

Clock = Callable[[], datetime]


def send_fanout(runtime: Runtime) -> int:
    """How many send jobs may run at once (SMSAPP_SEND_JOBS; one per worker is the useful most)."""
    return max(1, runtime.settings.send_jobs)


def validity_seconds(valid_until: datetime | None, now: datetime) -> int | None:
    """ValidityPeriod for a text useless after the poll closes (None when Twilio's default does)."""
    if valid_until is None:
        return None
    seconds = int((valid_until - now).total_seconds())
    if seconds >= TWILIO_MAX_VALIDITY:
        return None
    return max(1, seconds)


# -- the send loop -----------------------------------------------------------------------------


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    released: int = 0

    def add(self, other: SendReport) -> None:
        for name in ("claimed", "sent", "retried", "failed", "cancelled", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def count(self, outcome: SendOutcome) -> None:
        if outcome.status == OutboundStatus.SENT:
            self.sent += 1
        elif outcome.status == OutboundStatus.CANCELLED:
            self.cancelled += 1
        elif outcome.status == OutboundStatus.FAILED:
            self.failed += 1
        elif outcome.attempts_delta < 0:
            self.released += 1  # handed back untried
        else:
            self.retried += 1


def batch_size(runtime: Runtime) -> int:
    """About three seconds' worth at the configured rate (5 to MAX_BATCH rows), so a claim is
    never held for long, and the pause between two batches costs little of the rate."""
    return max(5, min(MAX_BATCH, int(runtime.settings.send_rate * 3)))


def send_batch(runtime: Runtime, now: datetime | None = None) -> SendReport:
    """Claim one batch of due texts and send it. ``now`` only moves the due time (tests).

    The call slots (SMSAPP_MAX_CONCURRENT_SENDS, shared by every worker) are taken before the
    claim, so no rows wait claimed while the slots are busy elsewhere.
    """
    return _send(runtime, now, deadline=None)


def send_due(
    runtime: Runtime, *, now: datetime | None = None, budget: float = JOB_BUDGET
) -> SendReport:
    """Send batches until nothing is due or the time budget is spent.

    The batches follow each other without a pause in the calls: the next is claimed while the
    current one's last texts are in flight, and its calls start before the current one's last
    outcomes are written (a claim and a write were a tenth of a send job's time, with no call
    going out).
    """
    return _send(runtime, now, deadline=time.monotonic() + budget)


def _send(runtime: Runtime, now: datetime | None, deadline: float | None) -> SendReport:
    """Hold the job's call slots while its batches go (one batch when ``deadline`` is None)."""
    limiter = limiter_for(runtime)
    with ExitStack() as stack:
        try:
            lanes = stack.enter_context(limiter.slots(send_lanes(runtime), timeout=SLOT_WAIT))
        except TimeoutError:
            log.info("every send slot is busy; leaving the due texts to the other send jobs")
            return SendReport()
        return _send_batches(runtime, limiter, lanes, now, deadline)
    raise AssertionError("unreachable")  # pragma: no cover


def _send_batches(
    runtime: Runtime,
    limiter: Limiter,
    lanes: int,
    now: datetime | None,
    deadline: float | None,
) -> SendReport:
    report = SendReport()
    batch = _Batch.claim(runtime, limiter, now, report)  # the batch whose calls are going
    finishing: _Batch | None = None  # calls done, its last outcomes still to write
    following: _Batch | None = None  # claimed while the current batch's last texts go
    more = deadline is not None and batch is not None  # whether another claim may be due

    def time_left() -> bool:
        return more and deadline is not None and time.monotonic() < deadline

    try:
        while batch is not None:
            calls = batch.start(lanes)
            if finishing is not None:
                done, finishing = finishing, None
                done.finish()
            ask = time_left()
            while not calls.wait(RECORD_INTERVAL, or_running_low=ask):
                if ask and calls.running_low:
                    ask = False
                    if not batch.rate.busy and time_left():
                        following = _Batch.claim(runtime, limiter, now, report)
                        more = following is not None
                batch.flush()
            finishing, batch = batch, None
            if finishing.failed or finishing.rate.busy:
                break  # a bug in a call, or the rate stayed busy: stop here
            if following is None and time_left():
                following = _Batch.claim(runtime, limiter, now, report)
                more = following is not None
            batch, following = following, None
    finally:
        # Whatever was sent is recorded even if the wait broke; a crash before this line
        # leaves rows in ``sending`` for reconcile_stuck, which asks Twilio first. A batch
        # claimed but never started goes back untried.
        try:
            if following is not None:
                following.hand_back()
        finally:
            try:
                if finishing is not None:
                    finishing.finish()
            finally:
                if batch is not None:
                    batch.finish()
    return report


class _Batch:
    """One claim's texts: decided and sent on the lanes, their outcomes written every second."""

    def __init__(
        self,
        runtime: Runtime,
        limiter: Limiter,
        claimed: list[Claimed],
        claimed_now: datetime,
        report: SendReport,
    ) -> None:
        self.runtime = runtime
        self.claimed = claimed
        self.claimed_now = claimed_now
        self.started = time.monotonic()
        self.report = report
        self.twilio = has_transport(runtime)
        self.callback = status_callback_url(runtime)
        self.hold = claim_hold(runtime)
        self.rate = RateBudget(
            limiter, sum(max(1, m.segments) for m in claimed if m.backend == "twilio")
        )
        self.calls: Lanes | None = None  # start() begins them

    @classmethod
    def claim(
        cls, runtime: Runtime, limiter: Limiter, now: datetime | None, report: SendReport
    ) -> _Batch | None:
        claimed_now = now or utcnow()
        claimed = claim_due(runtime, batch_size(runtime), claimed_now)
        report.claimed += len(claimed)
        return cls(runtime, limiter, claimed, claimed_now, report) if claimed else None

    def start(self, lanes: int) -> Lanes:
        self.calls = Lanes(
            send_pool(send_threads(self.runtime)),
            lanes,
            self.attempt,
            self.claimed,
            # The next claim takes a moment: ask for it while a quarter of this batch is left.
            low_water=len(self.claimed) // 4,
        )
        return self.calls

    def clock(self) -> datetime:
        # Real time moves on during a batch; a test's fixed ``now`` is shifted by it too.
        return self.claimed_now + timedelta(seconds=time.monotonic() - self.started)

    def attempt(self, message: Claimed) -> SendOutcome:
        """What becomes of one text, decided on its lane just before its call."""
        at = self.clock()
        if at - self.claimed_now > self.hold:
            # Held too long: give it back untried, undoing its attempt (so does every later one).
            return _handed_back(message, at)
        reason = why_not_send(message, at)
        if reason is not None:
            return SendOutcome(
                message.id,
                message.participant_id,
                OutboundStatus.CANCELLED,
                error_message=f"cancelled: {reason}",
                at=at,
            )
        if message.backend == "outbox":
            # The outbox is the row itself: marking it sent is the whole "send".
            return SendOutcome(
                message.id,
                message.participant_id,
                OutboundStatus.SENT,
                sid=f"OUTBOX-{message.id}",
                at=at,
            )
        if not self.twilio:
            return SendOutcome(
                message.id,
                message.participant_id,
                OutboundStatus.FAILED,
                error_message="no Twilio credentials or sender configured",
                at=at,
            )
        if self.rate.busy:
            # The shared rate was busy for too long: hand the rest back for later.
            return _handed_back(message, at)
        return _send_one(self.runtime, self.rate, message, self.callback, self.clock)

    @property
    def failed(self) -> bool:
        return bool(self.calls and self.calls.errors)

    def flush(self) -> None:
        if self.calls is not None:
            self._record(self.calls.take())

    def finish(self) -> None:
        """Wait for the last calls, write what is left, and raise a call's bug if there was one."""
        calls = self.calls
        if calls is None:
            self.hand_back()
            return
        while not calls.wait(RECORD_INTERVAL):
            pass
        self.flush()
        if calls.errors:
            # A bug in a call: its row stays in ``sending`` and is reconciled; the job shows it.
            raise calls.errors[0]

    def hand_back(self) -> None:
        """Give a batch that never started back untried."""
        at = self.clock()
        self._record([_handed_back(message, at) for message in self.claimed])

    def _record(self, done: list[SendOutcome]) -> None:
        record_outcomes(self.runtime, done)
        for outcome in done:
            self.report.count(outcome)


def _handed_back(message: Claimed, at: datetime) -> SendOutcome:
    return SendOutcome(
        message.id, message.participant_id, OutboundStatus.QUEUED, attempts_delta=-1, at=at
    )


class RateBudget:
    """The sender's shared rate (SMSAPP_SEND_RATE, the limiter's one rule), booked for a batch
    a quarter of a burst at a time, one Redis call for each, just before the calls it pays for: a
    thread takes its text's segments right before calling, so calls go out as they are booked.
    """

    def __init__(self, limiter: Limiter, segments: int) -> None:
        self.limiter = limiter
        self.unbooked = segments  # the batch's segments not booked yet
        self.booked = 0  # booked and not yet spent
        self.busy = False  # the rate stayed busy for longer than a call may wait
        # A quarter of a burst at a time (at most 40 Redis calls a second, whatever the rate):
        # the rest of the burst absorbs a late wake-up under load, which would otherwise be
        # lost from the rate for good (GCRA keeps no credit beyond the burst).
        self.chunk = max(1, int(limiter.burst // 4))
        self._lock = threading.Lock()

    def take(self, segments: int) -> bool:
        with self._lock:
            if self.busy:
                return False
            if self.booked < segments:
                want = max(segments - self.booked, min(self.chunk, self.unbooked))
                if not self.limiter.acquire(want, timeout=30.0):
                    self.busy = True
                    return False
                self.booked += want
                self.unbooked = max(0, self.unbooked - want)
            self.booked -= segments
            return True


def _send_one(
    runtime: Runtime, rate: RateBudget, message: Claimed, callback: str | None, clock: Clock
) -> SendOutcome:
    """One text through this thread's transport, once the shared rate allows it."""
    transport = transport_for(runtime)
    assert transport is not None and message.phone_ciphertext is not None
    to = runtime.vault.decrypt(message.phone_ciphertext)
    # Everything else is ready first, so the call goes out as soon as the rate is booked.
    if not rate.take(max(1, message.segments)):
        # The shared rate is busy: hand the row back untouched for a later batch.
        return _handed_back(message, clock())
    if message.verify_since is not None:
        try:
            found = transport.find_sent(to, message.body, message.verify_since)
        except SendError as exc:
            return outcome_of_error(message, exc, clock())
        if found is not None:
            return SendOutcome(
                message.id, message.participant_id, OutboundStatus.SENT, sid=found.sid, at=clock()
            )
    attempted_at = clock()
    try:
        sent = transport.send(
            to,
            message.body,
            status_callback=callback,
            validity_period=validity_seconds(message.valid_until, clock()),
        )
    except SendError as exc:
        log.info("send of message %s refused: %r", message.id, exc)
        return outcome_of_error(message, exc, clock(), attempted_at=attempted_at)
    return SendOutcome(
        message.id, message.participant_id, OutboundStatus.SENT, sid=sent.sid, at=clock()
    )


def run_send_job(runtime: Runtime) -> SendReport:
    """The body of the send job: fan out to other workers while there is a backlog, then send."""
    if runtime.redis() is None:
        if not _embedded_busy.acquire(blocking=False):
            return SendReport()
        try:
            return send_due(runtime)
        finally:
            _embedded_busy.release()
    if has_due(runtime):
        # Fan out first, so other workers start while this one works through its batches.
        kick_senders(runtime)
    report = send_due(runtime)
    if report.claimed and has_due(runtime):
        kick_senders(runtime)
    return report


_embedded_busy = threading.Lock()


def kick_senders(runtime: Runtime) -> int:
    """Enqueue the send jobs (fixed ids, so repeated kicks never pile up); returns how many."""
    if runtime.redis() is None:
        # Embedded: one send job at a time in the web process's pool is plenty.
        if _embedded_busy.locked():
            return 0
        queue.enqueue(runtime, SEND_JOB)
        return 1
    n = send_fanout(runtime)
    # Job ids repeat only within a window: RQ keeps a SIGKILLed job "started" until its timeout,
    # and a fixed id would keep that slot blocked for as long. A job runs at most JOB_BUDGET.
    window = int(time.time() // JOB_BUDGET)
    for slot in range(n):
        queue.enqueue(
            runtime,
            SEND_JOB,
            job_id=f"smsapp-send-{slot}-{window}",
            timeout=int(JOB_BUDGET * 2 + 60),
        )
    return n


def try_kick_senders(runtime: Runtime) -> bool:
    """Kick the send jobs after a commit; False (and a warning in the log) if the queue is down.

    What was committed stands: the texts are rows in the database, and the clock's next kick
    (jobs.sending.kick, every few seconds) starts the send jobs once the queue is back.
    """
    try:
        kick_senders(runtime)
    except Exception as exc:  # noqa: BLE001  (a queue outage must not undo what was committed)
        log.warning(
            "could not start the send jobs (%s); the clock's next kick will", type(exc).__name__
        )
        return False
    return True
