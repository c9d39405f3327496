"""Close polls (by hand or at their deadline) and expire conversations left idle too long.

Closing ends open and waiting conversations, cancels texts not yet sent, starts each affected
participant's next waiting poll, and, once committed, asks for the tally and starts the send
jobs for the invitations it queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp import queue
from smsapp.conversation import engine
from smsapp.db import for_update, utcnow
from smsapp.models import (
    Conversation,
    ConversationStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
    ParticipantStatus,
    Poll,
    PollStatus,
    Proposal,
)
from smsapp.runtime import Runtime
from smsapp.services import audit
from smsapp.services.outbox.rows import CONVERSATION_BOUND_KINDS, queue_texts
from smsapp.services.outbox.sending import try_kick_senders
from smsapp.services.people.group_policy import group_quiet_hours, send_time
from smsapp.services.polls.conversations import Turn, activate_next_waiting, end_conversation
from smsapp.services.polls.definitions import PollError

log = logging.getLogger(__name__)

TALLY_JOB = "jobs.tally.tally_poll"
# A young person's proposed question closed: its proposer hears the results first
# (services/agenda/proposals.send_results_to_proposer, named so polls imports no agenda).
PROPOSER_RESULTS_JOB = "jobs.agenda.results_to_proposer"


@dataclass
class CloseResult:
    poll_id: int
    slug: str
    ended: int = 0
    cancelled: int = 0
    started_next: list[int] = field(default_factory=list)  # conversations begun as a result
    # Set when the queue could not be reached after the commit: the close stands, the clock's
    # next kick sends the invitations, and the count waits for "Tally now" (or the CLI).
    queue_problem: str | None = None
    from_proposal: bool = False  # a young person's question (agenda): results to them first


def queue_started_turn(
    runtime: Runtime, session: Session, participant: Participant, turn: Turn, now: datetime
) -> None:
    """A waiting poll began outside a reply (a job did it): its first texts go out as invitations.

    The conversation's first reminder was set when it began (conversations.activate_next_waiting).
    """
    poll = session.get(Poll, turn.poll_id) if turn.poll_id else None
    conversation = session.get(Conversation, turn.conversation_id) if turn.conversation_id else None
    if poll is None or conversation is None or not turn.replies:
        return
    send_after, deferred = send_time(
        now, group_quiet_hours(session, poll.group_id), runtime.settings.timezone
    )
    queue_texts(
        session,
        participant_id=participant.id,
        poll_id=poll.id,
        conversation_id=conversation.id,
        kind="invitation",
        texts=turn.replies,
        backend=runtime.settings.sms_backend,
        send_after=send_after,
        deferred=deferred,
        valid_until=poll.closes_at,
    )


def _start_next_for(
    runtime: Runtime, session: Session, participant_ids: list[int], now: datetime
) -> list[int]:
    started = []
    for pid in participant_ids:
        participant = session.get(Participant, pid)
        if participant is None or participant.status != ParticipantStatus.ACTIVE:
            continue
        turn = activate_next_waiting(runtime, session, participant, now)
        if turn is not None and turn.conversation_id is not None:
            queue_started_turn(runtime, session, participant, turn, now)
            started.append(turn.conversation_id)
    return started


def close_poll(
    runtime: Runtime,
    session: Session,
    poll: Poll,
    *,
    actor: str = "system",
    now: datetime | None = None,
) -> CloseResult:
    """Open → closed, in the caller's transaction; after the commit, after_close asks for the
    tally and the sends (close_by_slug and close_due_polls do both)."""
    now = now or utcnow()
    if poll.status == PollStatus.CLOSED:
        raise PollError(f"poll {poll.slug!r} is already closed")
    if poll.status != PollStatus.OPEN:
        raise PollError(f"poll {poll.slug!r} is a {poll.status}; only an open poll can close")
    poll.status = PollStatus.CLOSED
    poll.closed_at = now
    poll.updated_at = now
    result = CloseResult(poll.id, poll.slug)
    result.from_proposal = (
        session.scalar(sa.select(Proposal.id).where(Proposal.poll_id == poll.id).limit(1))
        is not None
    )
    running = session.scalars(
        sa.select(Conversation).where(
            Conversation.poll_id == poll.id,
            Conversation.status.in_([ConversationStatus.OPEN, ConversationStatus.WAITING]),
        )
    ).all()
    freed = []
    for conversation in running:
        if conversation.status == ConversationStatus.OPEN:
            freed.append(conversation.participant_id)
        end_conversation(conversation, ConversationStatus.CLOSED, now)
    result.ended = len(running)
    cancelled = session.execute(
        sa.update(OutboundMessage)
        .where(
            OutboundMessage.poll_id == poll.id,
            OutboundMessage.status == OutboundStatus.QUEUED,
            OutboundMessage.kind.in_(CONVERSATION_BOUND_KINDS),
        )
        .values(status=OutboundStatus.CANCELLED, error_message="cancelled: poll closed")
        .execution_options(synchronize_session=False)
    )
    result.cancelled = int(getattr(cancelled, "rowcount", 0) or 0)
    session.flush()
    result.started_next = _start_next_for(runtime, session, freed, now)
    audit.record(
        session,
        actor,
        "poll.close",
        poll.slug,
        ended=result.ended,
        cancelled=result.cancelled,
        started_next=len(result.started_next),
    )
    return result


def enqueue_tally(runtime: Runtime, poll_id: int) -> None:
    """Ask the tally job for the count of a poll that has closed (once: a fixed job id)."""
    queue.enqueue(runtime, TALLY_JOB, poll_id, job_id=f"smsapp-tally-{poll_id}")


QUEUE_DOWN = (
    "the queue could not be reached: the texts go out at the clock's next kick; ask for the "
    "count with Tally now"
)


def after_close(runtime: Runtime, result: CloseResult) -> CloseResult:
    """After the close has committed: ask for the tally and start the send jobs for any poll
    that began. A queue that is down does not undo the close: it is logged and noted on the
    result (queue_problem) for the caller to show."""
    try:
        enqueue_tally(runtime, result.poll_id)
        tally_queued = True
    except Exception as exc:  # noqa: BLE001  (the close is committed whatever the queue says)
        log.warning(
            "poll %s closed; its tally was not queued (%s)", result.slug, type(exc).__name__
        )
        tally_queued = False
    if result.from_proposal:
        try:
            queue.enqueue(
                runtime,
                PROPOSER_RESULTS_JOB,
                result.poll_id,
                job_id=f"smsapp-proposer-{result.poll_id}",
            )
        except Exception as exc:  # noqa: BLE001  (the clock's sweep finds it again)
            log.warning(
                "poll %s closed; proposer results not queued (%s)", result.slug, type(exc).__name__
            )
            tally_queued = False
    kicked = try_kick_senders(runtime) if result.started_next else True
    if not (tally_queued and kicked):
        result.queue_problem = QUEUE_DOWN
    return result


def close_by_slug(runtime: Runtime, slug: str, *, actor: str = "system") -> CloseResult:
    """Close a poll in its own transaction, then enqueue the tally and the sends."""
    with runtime.db.transaction() as session:
        poll = session.scalar(for_update(sa.select(Poll).where(Poll.slug == slug), session))
        if poll is None:
            raise PollError(f"no poll called {slug!r}")
        result = close_poll(runtime, session, poll, actor=actor)
    return after_close(runtime, result)


def close_due_polls(runtime: Runtime, *, now: datetime | None = None) -> list[CloseResult]:
    """Close every open poll whose deadline has passed (each in its own transaction)."""
    now = now or utcnow()
    results = []
    with runtime.db.transaction() as session:
        due = list(
            session.scalars(
                sa.select(Poll.id).where(
                    Poll.status == PollStatus.OPEN,
                    Poll.closes_at.is_not(None),
                    Poll.closes_at <= now,
                )
            )
        )
    for poll_id in due:
        with runtime.db.transaction() as session:
            poll = session.scalar(for_update(sa.select(Poll).where(Poll.id == poll_id), session))
            if poll is None or poll.status != PollStatus.OPEN:
                continue  # someone closed it meanwhile
            result = close_poll(runtime, session, poll, actor="deadline", now=now)
        results.append(after_close(runtime, result))
    return results


def expire_idle(runtime: Runtime, *, now: datetime | None = None, limit: int = 500) -> int:
    """End conversations with no reply for the configured timeout; start the next waiting one
    (and, once committed, the send jobs for its invitations)."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=runtime.settings.conversation_timeout_hours)
    with runtime.db.transaction() as session:
        stale = session.scalars(
            sa.select(Conversation)
            .where(
                Conversation.status == ConversationStatus.OPEN,
                Conversation.last_activity_at < cutoff,
            )
            .order_by(Conversation.id)
            .limit(limit)
        ).all()
        freed = []
        for conversation in stale:
            if engine.is_expired(
                conversation.last_activity_at,
                now,
                timedelta(hours=runtime.settings.conversation_timeout_hours),
            ):
                end_conversation(conversation, ConversationStatus.EXPIRED, now)
                freed.append(conversation.participant_id)
        session.flush()
        started = _start_next_for(runtime, session, freed, now)
    if started:
        try_kick_senders(runtime)
    return len(freed)
