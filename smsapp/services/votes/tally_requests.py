""" "Tally now": a staff member asks for a count, the tally job runs it, and the request's row
says how far it has got (queued, running, done, failed) for the progress page.

The count itself is tallying.tally_poll, which takes the poll's lock: a request, the job at the
close and `smsapp polls tally` never count one poll at the same time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import Poll, PollStatus, TallyRequest, TallyRequestStatus
from smsapp.queue import DEFAULT_TIMEOUT, enqueue
from smsapp.runtime import Runtime
from smsapp.services.polls.definitions import PollError
from smsapp.services.votes.tallying import check_countable, tally_poll

log = logging.getLogger(__name__)

JOB = "jobs.tally.count_requested"
# A request still queued this long after it was made has lost its queue entry (or the queue is
# slow): the clock's job runs it. Running it twice is harmless: only one claim succeeds.
LOST_AFTER = timedelta(minutes=2)
# A request "running" for longer than a job may run belongs to a worker that died.
DEAD_AFTER = timedelta(seconds=DEFAULT_TIMEOUT + 60)
FAILED_UNEXPECTEDLY = "the count stopped with an error; the worker's log has the details"


def request_tally(
    runtime: Runtime, poll_id: int, *, actor: str, now: datetime | None = None
) -> TallyRequest:
    """Ask for a count of the poll (final once closed, provisional while open) and queue the
    tally job. A request of this poll still waiting for the job is answered instead: it has not
    read any ballots yet, so it counts everything this one would."""
    with runtime.db.transaction() as session:
        poll = session.get(Poll, poll_id)
        if poll is None:
            raise PollError("that poll no longer exists")
        check_countable(poll)
        request = session.scalar(
            sa.select(TallyRequest)
            .where(
                TallyRequest.poll_id == poll_id,
                TallyRequest.status == TallyRequestStatus.QUEUED,
            )
            .order_by(TallyRequest.id.desc())
            .limit(1)
        )
        if request is None:
            request = TallyRequest(
                poll_id=poll_id,
                requested_by=actor,
                status=TallyRequestStatus.QUEUED,
                created_at=now or utcnow(),
            )
            session.add(request)
            session.flush()
    try:
        enqueue(runtime, JOB, request.id, job_id=f"smsapp-tally-request-{request.id}")
    except Exception:  # the row is committed: the clock's job finds it once the queue is back
        log.warning("tally request %s not queued; the clock will run it", request.id)
    return request


def _died(now: datetime) -> sa.ColumnElement[bool]:
    """Left "running" by a worker that died: no job runs longer than DEAD_AFTER."""
    return sa.and_(
        TallyRequest.status == TallyRequestStatus.RUNNING,
        TallyRequest.started_at < now - DEAD_AFTER,
    )


def _claim(session: Session, request_id: int, now: datetime) -> bool:
    """Take the request for this worker: queued, or left running by a worker that died. Only one
    claim can succeed, so a request queued twice (by the button and the clock) runs once."""
    claimed = session.execute(
        sa.update(TallyRequest)
        .where(
            TallyRequest.id == request_id,
            sa.or_(
                TallyRequest.status == TallyRequestStatus.QUEUED,
                _died(now),
            ),
        )
        .values(status=TallyRequestStatus.RUNNING, started_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(claimed, "rowcount", 0))


def _finish(runtime: Runtime, request_id: int, error: str) -> None:
    with runtime.db.transaction() as session:
        session.execute(
            sa.update(TallyRequest)
            .where(TallyRequest.id == request_id)
            .values(status=TallyRequestStatus.FAILED, error=error, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def run_tally_request(runtime: Runtime, request_id: int, *, now: datetime | None = None) -> str:
    """Claim the request and count its poll; returns the status it ends in ("done", "failed"),
    or the status someone else left it in when it was not ours to run."""
    with runtime.db.transaction() as session:
        # Committed on its own, so the page shows "running" while the count is under way.
        if not _claim(session, request_id, now or utcnow()):
            status = session.scalar(
                sa.select(TallyRequest.status).where(TallyRequest.id == request_id)
            )
            return status or "gone"
    try:
        with runtime.db.transaction() as session:
            request = session.get(TallyRequest, request_id)
            poll = session.get(Poll, request.poll_id) if request is not None else None
            if request is None or poll is None:
                return "gone"  # the poll was deleted meanwhile, and its requests with it
            runs = tally_poll(session, poll, actor=request.requested_by)
            request.status = TallyRequestStatus.DONE
            request.runs = len(runs)
            request.final = poll.status == PollStatus.CLOSED
            request.finished_at = utcnow()
    except PollError as exc:
        _finish(runtime, request_id, str(exc))
        return TallyRequestStatus.FAILED
    except Exception:
        # Staff see a plain sentence; the traceback goes to the worker's log and the queue page.
        _finish(runtime, request_id, FAILED_UNEXPECTEDLY)
        raise
    return TallyRequestStatus.DONE


def run_lost_requests(runtime: Runtime, *, now: datetime | None = None) -> int:
    """Run the requests whose job never came (queued too long) or died (running too long)."""
    now = now or utcnow()
    with runtime.db.transaction() as session:
        lost = list(
            session.scalars(
                sa.select(TallyRequest.id)
                .where(
                    sa.or_(
                        sa.and_(
                            TallyRequest.status == TallyRequestStatus.QUEUED,
                            TallyRequest.created_at < now - LOST_AFTER,
                        ),
                        _died(now),
                    )
                )
                .order_by(TallyRequest.id)
            )
        )
    ran = 0
    for request_id in lost:
        try:
            if run_tally_request(runtime, request_id, now=now) == TallyRequestStatus.DONE:
                ran += 1
        except Exception:  # one broken poll must not starve the others
            log.exception("tally request %s failed", request_id)
    return ran


def progress(session: Session, poll: Poll, request_id: int) -> TallyRequest | None:
    """The poll's request `request_id`, for the progress page (None if it is not this poll's)."""
    return session.scalar(
        sa.select(TallyRequest).where(
            TallyRequest.id == request_id, TallyRequest.poll_id == poll.id
        )
    )
