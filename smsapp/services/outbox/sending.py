"""Send claimed texts: call Twilio (or the outbox), record what happened, start the send jobs.

The database is the source of truth. A row is marked ``sending`` before the API call
(outbox/claims.py), and its Twilio SID recorded after. A row left in ``sending`` by a crashed
worker is looked up at Twilio before it is queued again (outbox/reconcile.py), and so is a row
whose last attempt got no answer, so a crash or a timeout never texts a young person twice.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from smsapp import queue
from smsapp.db import utcnow
from smsapp.models import OutboundMessage, OutboundStatus, Participant
from smsapp.privacy.redact import redact_optional
from smsapp.runtime import Runtime
from smsapp.services.outbox.claims import (
    VERIFY_KEY,
    Claimed,
    claim_due,
    claim_hold,
    has_due,
    why_not_send,
)
from smsapp.services.outbox.provider import (
    Limiter,
    Transport,
    limiter_for,
    status_callback_url,
    transport_for,
)
from smsapp.services.people.optout import apply_error_to_participant
from smsapp.sms.twilio_transport import SendError

log = logging.getLogger(__name__)

SEND_JOB = "jobs.sending.send_due"
MAX_SEND_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)
TWILIO_MAX_VALIDITY = 36_000  # seconds: Twilio's own ceiling (and default) for ValidityPeriod
RECORD_EVERY = 25  # outcomes written per transaction: fewer commits, same safety (see above)
RECORD_INTERVAL = 0.5  # seconds: ... and never older than this
JOB_BUDGET = 20.0  # seconds one send job runs before handing over to the next


def send_fanout(runtime: Runtime) -> int:
    """How many send jobs may run at once (SMSAPP_SEND_JOBS; one per worker is the useful most)."""
    return max(1, runtime.settings.send_jobs)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter: about 2 s, 4 s, 8 s … capped at five minutes."""
    uniform = rng.uniform if rng is not None else random.uniform
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return ceiling * uniform(0.5, 1.0)


# -- recording ---------------------------------------------------------------------------------


@dataclass
class SendOutcome:
    """What happened to one claimed row, written back in a batch."""

    id: int
    participant_id: int | None
    status: str
    sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    send_after: datetime | None = None
    attempts_delta: int = 0
    at: datetime = field(default_factory=utcnow)
    extra: dict[str, Any] | None = None


def record_outcomes(runtime: Runtime, outcomes: list[SendOutcome]) -> None:
    """Write outcomes back; only rows still in ``sending`` change (a claim is never stolen)."""
    if not outcomes:
        return
    with runtime.db.transaction() as session:
        for o in outcomes:
            values: dict[str, Any] = {"status": o.status, "updated_at": o.at}
            if o.sid is not None:
                values["twilio_sid"] = o.sid
                values["sent_at"] = o.at
            if o.error_code is not None or o.error_message is not None:
                values["error_code"] = o.error_code
                # The one write of a send's error: whatever made the text, no number is kept.
                values["error_message"] = redact_optional(o.error_message)
            if o.send_after is not None:
                values["send_after"] = o.send_after
            if o.attempts_delta:
                values["attempts"] = OutboundMessage.attempts + o.attempts_delta
            if o.extra is not None:
                values["extra"] = o.extra
            written = session.execute(
                sa.update(OutboundMessage)
                .where(
                    OutboundMessage.id == o.id,
                    OutboundMessage.status == OutboundStatus.SENDING,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            # The participant follows the row: an outcome for a row that is no longer ours
            # (reconciled or cancelled meanwhile) changes nobody.
            ours = bool(getattr(written, "rowcount", 0))
            if ours and o.error_code is not None and o.participant_id is not None:
                participant = session.get(Participant, o.participant_id)
                if participant is not None:
                    apply_error_to_participant(session, participant, o.error_code, sent_at=o.at)


def outcome_of_error(
    message: Claimed, exc: SendError, now: datetime, *, attempted_at: datetime | None = None
) -> SendOutcome:
    """Map a refused send to its outcome: retry later, or fail keeping Twilio's code.

    ``attempted_at``: when the failed call began (the text cannot be at Twilio from before).
    """
    if exc.retryable and message.attempts < MAX_SEND_ATTEMPTS:
        extra = dict(message.extra or {})
        if exc.http_status is None and message.verify_since is None:
            # No answer at all (timeout, connection lost): the text may have reached Twilio.
            # The next attempt asks Twilio first, from the first ambiguous try onwards; the
            # transport's find_sent allows for Twilio's clock.
            extra[VERIFY_KEY] = (attempted_at or now).isoformat()
        return SendOutcome(
            message.id,
            message.participant_id,
            OutboundStatus.QUEUED,
            error_code=exc.code,
            error_message=f"retrying: {exc.message}"[:500],
            send_after=now + backoff(message.attempts),
            at=now,
            extra=extra,
        )
    return SendOutcome(
        message.id,
        message.participant_id,
        OutboundStatus.FAILED,
        error_code=exc.code,
        error_message=exc.message[:500],
        at=now,
    )


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


def batch_size(runtime: Runtime) -> int:
    """About three seconds' worth at the configured rate, so a claim is never held for long."""
    return max(5, min(200, int(runtime.settings.send_rate * 3)))


def send_batch(runtime: Runtime, now: datetime | None = None) -> SendReport:
    """Claim one batch of due texts and send it. ``now`` only moves the due time (tests)."""
    claimed_now = now or utcnow()
    claimed = claim_due(runtime, batch_size(runtime), claimed_now)
    report = SendReport(claimed=len(claimed))
    if not claimed:
        return report
    transport = transport_for(runtime)
    limiter = limiter_for(runtime)
    callback = status_callback_url(runtime)
    pending: list[SendOutcome] = []
    last_flush = time.monotonic()
    started = time.monotonic()
    hold = claim_hold(runtime)

    def clock() -> datetime:
        # Real time moves on during a batch; a test's fixed ``now`` is shifted by it too.
        return claimed_now + timedelta(seconds=time.monotonic() - started)

    try:
        for index, message in enumerate(claimed):
            at = clock()
            if at - claimed_now > hold:
                # Give back what has not been tried, undoing its attempt, and stop.
                rest = claimed[index:]
                pending.extend(
                    SendOutcome(
                        m.id, m.participant_id, OutboundStatus.QUEUED, attempts_delta=-1, at=at
                    )
                    for m in rest
                )
                report.released += len(rest)
                break
            reason = why_not_send(message, at)
            if reason is not None:
                pending.append(
                    SendOutcome(
                        message.id,
                        message.participant_id,
                        OutboundStatus.CANCELLED,
                        error_message=f"cancelled: {reason}",
                        at=at,
                    )
                )
                report.cancelled += 1
            elif message.backend == "outbox":
                # The outbox is the row itself: marking it sent is the whole "send".
                pending.append(
                    SendOutcome(
                        message.id,
                        message.participant_id,
                        OutboundStatus.SENT,
                        sid=f"OUTBOX-{message.id}",
                        at=at,
                    )
                )
                report.sent += 1
            elif transport is None:
                pending.append(
                    SendOutcome(
                        message.id,
                        message.participant_id,
                        OutboundStatus.FAILED,
                        error_message="no Twilio credentials or sender configured",
                        at=at,
                    )
                )
                report.failed += 1
            else:
                outcome = _send_via_twilio(runtime, transport, limiter, message, callback, clock)
                pending.append(outcome)
                if outcome.status == OutboundStatus.SENT:
                    report.sent += 1
                elif outcome.status == OutboundStatus.QUEUED:
                    report.retried += 1
                else:
                    report.failed += 1
            if len(pending) >= RECORD_EVERY or time.monotonic() - last_flush > RECORD_INTERVAL:
                record_outcomes(runtime, pending)
                pending = []
                last_flush = time.monotonic()
    finally:
        # Whatever was sent is recorded even if the loop broke; a crash before this line
        # leaves rows in ``sending`` for reconcile_stuck, which asks Twilio first.
        record_outcomes(runtime, pending)
    return report


def _send_via_twilio(
    runtime: Runtime,
    transport: Transport,
    limiter: Limiter,
    message: Claimed,
    callback: str | None,
    clock: Any,
) -> SendOutcome:
    if not limiter.acquire(max(1, message.segments), timeout=30.0):
        # The shared rate is busy: hand the row back untouched for a later batch.
        return SendOutcome(
            message.id, message.participant_id, OutboundStatus.QUEUED, attempts_delta=-1, at=clock()
        )
    assert message.phone_ciphertext is not None
    to = runtime.vault.decrypt(message.phone_ciphertext)
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
        with limiter.concurrency(timeout=30.0):
            sent = transport.send(
                to,
                message.body,
                status_callback=callback,
                validity_period=validity_seconds(message.valid_until, clock()),
            )
    except SendError as exc:
        log.info("send of message %s refused: %r", message.id, exc)
        return outcome_of_error(message, exc, clock(), attempted_at=attempted_at)
    except TimeoutError:
        return SendOutcome(
            message.id, message.participant_id, OutboundStatus.QUEUED, attempts_delta=-1, at=clock()
        )
    return SendOutcome(
        message.id, message.participant_id, OutboundStatus.SENT, sid=sent.sid, at=clock()
    )


def send_due(
    runtime: Runtime, *, now: datetime | None = None, budget: float = JOB_BUDGET
) -> SendReport:
    """Send batches until nothing is due or the time budget is spent."""
    total = SendReport()
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        report = send_batch(runtime, now)
        total.add(report)
        if report.claimed == 0:
            break
    return total


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
