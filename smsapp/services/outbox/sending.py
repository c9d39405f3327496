"""Send queued texts: claim due rows, call Twilio (or the outbox), record what happened.

The database is the source of truth. A row is marked ``sending`` before the API call, and its
Twilio SID recorded after. A row left in ``sending`` by a crashed worker is looked up at Twilio
before it is queued again, so a crash never texts a young person twice.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp import queue
from smsapp.db import utcnow
from smsapp.models import (
    Conversation,
    ConversationStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
)
from smsapp.privacy.redact import redact_optional
from smsapp.runtime import Runtime
from smsapp.services.people.consent import Textability, awaiting_assent, text_gate
from smsapp.services.people.optout import apply_error_to_participant
from smsapp.sms.rate_limit import SendRateLimiter
from smsapp.sms.segments import count_segments
from smsapp.sms.twilio_transport import SendError, SentMessage, TwilioTransport

log = logging.getLogger(__name__)

SEND_JOB = "jobs.sending.send_due"
SENDABLE_BACKENDS = ("twilio", "outbox")
# Texts that only make sense while their conversation runs: a reminder deferred overnight is
# dropped if the young person finished (or left, or said STOP) in the meantime.
CONVERSATION_BOUND_KINDS = frozenset({"invitation", "reminder"})

MAX_SEND_ATTEMPTS = 6
VERIFY_KEY = "verify_since"
VERIFY_SLACK = 60  # seconds before the ambiguous attempt from which to look at Twilio
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)
# A worker gives back what it claimed but has not started sending after this long, so that a
# row in ``sending`` older than stuck_after() (default three minutes) really means "the worker died, maybe mid-call".
CLAIM_HOLD = timedelta(seconds=60)
TWILIO_MAX_VALIDITY = 36_000  # seconds: Twilio's own ceiling (and default) for ValidityPeriod
RECORD_EVERY = 25  # outcomes written per transaction: fewer commits, same safety (see above)
RECORD_INTERVAL = 0.5  # seconds: ... and never older than this
JOB_BUDGET = 20.0  # seconds one send job runs before handing over to the next


def stuck_after(runtime: Runtime) -> timedelta:
    """How old a claim must be before reconciling it (SMSAPP_STUCK_SEND_SECONDS)."""
    return timedelta(seconds=runtime.settings.stuck_send_seconds)


def send_fanout(runtime: Runtime) -> int:
    """How many send jobs may run at once (SMSAPP_SEND_JOBS; one per worker is the useful most)."""
    return max(1, runtime.settings.send_jobs)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter: about 2 s, 4 s, 8 s … capped at five minutes."""
    uniform = rng.uniform if rng is not None else random.uniform
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return ceiling * uniform(0.5, 1.0)


# -- transport and rate limit ------------------------------------------------------------------


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
_transports_lock = threading.Lock()


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
    with _transports_lock:
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
    with _transports_lock:
        found = _local_limiters.get(key)
        if found is None:
            found = _local_limiters[key] = LocalRateLimiter(
                s.send_rate, s.max_concurrent_sends or None
            )
    return found


def status_callback_url(runtime: Runtime) -> str | None:
    base = runtime.settings.public_base_url
    return f"{base}/sms/status" if base else None


# -- claiming ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """One claimed row and what sending it needs (the phone stays encrypted until the call)."""

    id: int
    participant_id: int | None
    kind: str
    body: str
    segments: int
    backend: str
    attempts: int
    valid_until: datetime | None
    phone_ciphertext: bytes | None
    participant_status: str | None
    number_status: str | None
    conversation_status: str | None
    extra: dict[str, Any] | None = None
    simulated: bool = False
    has_consent: bool = False
    needs_assent: bool = False

    @property
    def verify_since(self) -> datetime | None:
        """Set after an ambiguous failure (timeout): Twilio may have the text already."""
        value = (self.extra or {}).get(VERIFY_KEY)
        return datetime.fromisoformat(value) if value else None


def claim_due(runtime: Runtime, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Atomically move up to ``limit`` due rows from queued to sending and return them.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent workers take disjoint batches. SQLite:
    the transaction starts with BEGIN IMMEDIATE (db.py), so claims run one at a time.
    """
    now = now or utcnow()
    with runtime.db.transaction() as session:
        due = (
            sa.select(OutboundMessage.id)
            .where(
                OutboundMessage.status == OutboundStatus.QUEUED,
                OutboundMessage.send_after <= now,
                OutboundMessage.backend.in_(SENDABLE_BACKENDS),
            )
            # Oldest due first; the (status, send_after) index gives this order without a sort.
            .order_by(OutboundMessage.send_after)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(session.scalars(due))
        if not ids:
            return []
        session.execute(
            sa.update(OutboundMessage)
            .where(OutboundMessage.id.in_(ids))
            .values(
                status=OutboundStatus.SENDING,
                claimed_at=now,
                attempts=OutboundMessage.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            sa.select(
                OutboundMessage.id,
                OutboundMessage.participant_id,
                OutboundMessage.kind,
                OutboundMessage.body,
                OutboundMessage.segments,
                OutboundMessage.backend,
                OutboundMessage.attempts,
                OutboundMessage.valid_until,
                Participant.phone_ciphertext,
                Participant.status,
                Participant.number_status,
                Conversation.status,
                OutboundMessage.extra,
                Participant.simulated,
                Participant.consent_at.is_not(None),
                Participant.assent_at,
            )
            .outerjoin(Participant, Participant.id == OutboundMessage.participant_id)
            .outerjoin(Conversation, Conversation.id == OutboundMessage.conversation_id)
            .where(OutboundMessage.id.in_(ids))
            .order_by(OutboundMessage.send_after, OutboundMessage.id)
        ).all()
        # One query for the batch: who still owes assent to a group that asks for it by text.
        owing = awaiting_assent(
            session, {r.participant_id for r in rows if r.participant_id and r.assent_at is None}
        )
    build: Any = Claimed  # the first 13 columns are Claimed's fields, in order
    return [
        build(
            *row[:13],
            simulated=bool(row[13]),
            has_consent=bool(row[14]),
            needs_assent=row.participant_id in owing,
        )
        for row in rows
    ]


def why_not_send(message: Claimed, now: datetime) -> str | None:
    """A reason to cancel instead of sending, checked at the last moment; None to send.

    Consent, assent, opt-outs and invalid numbers go through consent.text_gate, the same rule
    the pages and the launch use, so no path can text a child the rule forbids.
    """
    if message.participant_id is None:
        return "no participant"
    gate = text_gate(
        Textability(
            simulated=message.simulated,
            status=message.participant_status,
            has_phone=message.phone_ciphertext is not None,
            number_status=message.number_status,
            has_consent=message.has_consent,
            needs_assent=message.needs_assent,
        ),
        message.kind,
    )
    if gate is not None:
        return gate
    if message.valid_until is not None and message.valid_until <= now:
        return "poll closed before it could be sent"
    if message.kind in CONVERSATION_BOUND_KINDS and message.conversation_status not in (
        None,
        ConversationStatus.OPEN,
    ):
        return f"conversation {message.conversation_status}"
    return None


# -- recording ---------------------------------------------------------------------------------


@dataclass
class Outcome:
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


def record_outcomes(runtime: Runtime, outcomes: list[Outcome]) -> None:
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


def outcome_of_error(message: Claimed, exc: SendError, now: datetime) -> Outcome:
    """Map a refused send to its outcome: retry later, or fail keeping Twilio's code."""
    if exc.retryable and message.attempts < MAX_SEND_ATTEMPTS:
        extra = dict(message.extra or {})
        if exc.http_status is None and message.verify_since is None:
            # No answer at all (timeout, connection lost): the text may have reached Twilio.
            # The next attempt asks Twilio first, from the first ambiguous try onwards.
            extra[VERIFY_KEY] = (now - timedelta(seconds=VERIFY_SLACK)).isoformat()
        return Outcome(
            message.id,
            message.participant_id,
            OutboundStatus.QUEUED,
            error_code=exc.code,
            error_message=f"retrying: {exc.message}"[:500],
            send_after=now + backoff(message.attempts),
            at=now,
            extra=extra,
        )
    return Outcome(
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


def claim_hold(runtime: Runtime) -> timedelta:
    return min(CLAIM_HOLD, stuck_after(runtime) / 3)


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
    pending: list[Outcome] = []
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
                    Outcome(m.id, m.participant_id, OutboundStatus.QUEUED, attempts_delta=-1, at=at)
                    for m in rest
                )
                report.released += len(rest)
                break
            reason = why_not_send(message, at)
            if reason is not None:
                pending.append(
                    Outcome(
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
                    Outcome(
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
                    Outcome(
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
) -> Outcome:
    if not limiter.acquire(max(1, message.segments), timeout=30.0):
        # The shared rate is busy: hand the row back untouched for a later batch.
        return Outcome(
            message.id, message.participant_id, OutboundStatus.QUEUED, attempts_delta=-1, at=clock()
        )
    assert message.phone_ciphertext is not None
    to = runtime.vault.decrypt(message.phone_ciphertext)
    if message.verify_since is not None:
        try:
            found = find_at_twilio(transport, to, message.body, message.verify_since)
        except SendError as exc:
            return outcome_of_error(message, exc, clock())
        if found is not None:
            return Outcome(
                message.id, message.participant_id, OutboundStatus.SENT, sid=found.sid, at=clock()
            )
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
        return outcome_of_error(message, exc, clock())
    except TimeoutError:
        return Outcome(
            message.id, message.participant_id, OutboundStatus.QUEUED, attempts_delta=-1, at=clock()
        )
    return Outcome(
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


def has_due(runtime: Runtime, now: datetime | None = None) -> bool:
    now = now or utcnow()
    with runtime.db.transaction() as session:
        found = session.scalar(
            sa.select(OutboundMessage.id)
            .where(
                OutboundMessage.status == OutboundStatus.QUEUED,
                OutboundMessage.send_after <= now,
                OutboundMessage.backend.in_(SENDABLE_BACKENDS),
            )
            .limit(1)
        )
    return found is not None


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


# -- stuck sends -------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    found_sent: int = 0
    requeued: int = 0
    errors: int = 0


def find_at_twilio(transport: Transport, to: str, body: str, since: datetime) -> SentMessage | None:
    """The message at Twilio, if it got there: by DateSent first, then the newest to ``to``.

    Twilio's DateSent filter misses a message it accepted but has not sent yet (no DateSent),
    so the newest messages to the number are also checked by body and DateCreated.
    """
    found = transport.find_sent(to, body, since)
    if found is not None:
        return found
    client = getattr(transport, "client", None)
    if client is None:
        return None
    try:
        recent = client.messages.list(to=to, limit=50)
    except Exception as exc:  # the SDK's own errors: treat as "cannot tell", not "absent"
        # Not chained: the SDK's text may quote the number (SendError redacts its own).
        raise SendError(f"find_recent: {exc}", connection_failed=True) from None
    earliest = since - timedelta(seconds=30)
    for item in recent:
        created = item.date_created
        if item.body == body and (created is None or created >= earliest):
            status = item.status
            return SentMessage(item.sid, str(getattr(status, "value", status)), None)
    return None


def reconcile_stuck(
    runtime: Runtime, *, now: datetime | None = None, limit: int = 200
) -> ReconcileReport:
    """Rows left in ``sending`` by a dead worker: found at Twilio → sent; otherwise queued again."""
    now = now or utcnow()
    cutoff = now - stuck_after(runtime)
    report = ReconcileReport()
    with runtime.db.transaction() as session:
        stmt = (
            sa.select(
                OutboundMessage.id,
                OutboundMessage.backend,
                OutboundMessage.body,
                OutboundMessage.claimed_at,
                Participant.phone_ciphertext,
            )
            .outerjoin(Participant, Participant.id == OutboundMessage.participant_id)
            .where(
                OutboundMessage.status == OutboundStatus.SENDING,
                OutboundMessage.twilio_sid.is_(None),
                OutboundMessage.claimed_at < cutoff,
            )
            .order_by(OutboundMessage.id)
            .limit(limit)
        )
        stuck = session.execute(stmt).all()
    if not stuck:
        return report
    transport = transport_for(runtime)
    for message_id, backend, body, claimed_at, ciphertext in stuck:
        found: SentMessage | None = None
        if backend == "twilio" and ciphertext is not None:
            if transport is None:
                continue  # cannot ask: leave it rather than risk a second text
            try:
                found = find_at_twilio(
                    transport, runtime.vault.decrypt(ciphertext), body, claimed_at or cutoff
                )
            except SendError as exc:
                log.warning("cannot check stuck message %s at Twilio: %r", message_id, exc)
                report.errors += 1
                continue
        with runtime.db.transaction() as session:
            guard = sa.update(OutboundMessage).where(
                OutboundMessage.id == message_id,
                OutboundMessage.status == OutboundStatus.SENDING,
                OutboundMessage.claimed_at == claimed_at,
            )
            if found is not None:
                session.execute(
                    guard.values(
                        status=OutboundStatus.SENT,
                        twilio_sid=found.sid,
                        sent_at=now,
                        updated_at=now,
                        error_message="recovered after a worker stopped mid-send",
                    )
                )
                report.found_sent += 1
            else:
                session.execute(
                    guard.values(status=OutboundStatus.QUEUED, send_after=now, updated_at=now)
                )
                report.requeued += 1
    log.info("stuck sends: %d found at Twilio, %d queued again", report.found_sent, report.requeued)
    return report


# -- what the admin page shows -----------------------------------------------------------------


@dataclass
class DeliveryCounts:
    by_status: dict[str, int]
    failures: dict[str, int]  # "21610: Attempt to send to unsubscribed recipient" -> n
    by_kind: dict[str, dict[str, int]]

    def get(self, status: str) -> int:
        return self.by_status.get(status, 0)


def delivery_counts(session: Session, poll_id: int) -> DeliveryCounts:
    """Texts of one poll by status (queued, sending, sent, delivered, failed …) and why failed."""
    rows = session.execute(
        sa.select(OutboundMessage.kind, OutboundMessage.status, sa.func.count())
        .where(OutboundMessage.poll_id == poll_id, OutboundMessage.backend != "twiml")
        .group_by(OutboundMessage.kind, OutboundMessage.status)
    ).all()
    by_status: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_kind.setdefault(kind, {})[status] = n
    failed = session.execute(
        sa.select(OutboundMessage.error_code, OutboundMessage.error_message, sa.func.count())
        .where(
            OutboundMessage.poll_id == poll_id,
            OutboundMessage.status.in_(
                [OutboundStatus.FAILED, OutboundStatus.UNDELIVERED, OutboundStatus.CANCELLED]
            ),
        )
        .group_by(OutboundMessage.error_code, OutboundMessage.error_message)
    ).all()
    failures: dict[str, int] = {}
    for code, text, n in failed:
        # Erasure drops the provider's text and keeps its code (services/people/withdrawal.py).
        label = (f"{code}: {text}" if text else str(code)) if code else (text or "unknown")
        failures[label] = failures.get(label, 0) + n
    return DeliveryCounts(by_status, failures, by_kind)


def queue_texts(
    session: Session,
    *,
    participant_id: int,
    poll_id: int | None,
    conversation_id: int | None,
    kind: str,
    texts: list[str] | tuple[str, ...],
    backend: str,
    send_after: datetime,
    deferred: bool,
    valid_until: datetime | None = None,
) -> list[OutboundMessage]:
    """Queue texts for one participant; later parts wait a little so they arrive in order."""
    rows = []
    for index, body in enumerate(texts):
        row = OutboundMessage(
            participant_id=participant_id,
            poll_id=poll_id,
            conversation_id=conversation_id,
            kind=kind,
            body=body,
            segments=count_segments(body).segments,
            backend=backend,
            status=OutboundStatus.QUEUED,
            send_after=send_after + PART_GAP * index,
            deferred=deferred,
            valid_until=valid_until,
        )
        session.add(row)
        rows.append(row)
    return rows


PART_GAP = timedelta(seconds=5)
